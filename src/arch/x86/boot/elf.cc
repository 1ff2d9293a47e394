// Minimal, bounds-checked ELF reader for kernel images.
#include "arch/x86/boot/elf.h"

#include <elf.h>

#include <cstring>
#include <string_view>

#include "base/error.h"

namespace insula::x86 {

namespace {

template <typename T>
T read_at(std::span<const uint8_t> f, uint64_t off) {
  if (off > f.size() || sizeof(T) > f.size() - off) throw error("ELF file is truncated (offset {:#x})", off);
  T v;
  std::memcpy(&v, f.data() + off, sizeof(T));
  return v;
}

template <typename Ehdr, typename Phdr>
ElfImage parse(std::span<const uint8_t> f) {
  auto eh = read_at<Ehdr>(f, 0);
  if (eh.e_machine != EM_X86_64 && eh.e_machine != EM_386) throw error("ELF machine {} is not x86", eh.e_machine);
  if (eh.e_phentsize != sizeof(Phdr)) throw error("ELF program header size {} is wrong", eh.e_phentsize);
  if (eh.e_phnum > 256) throw error("ELF has {} program headers: too many", eh.e_phnum);
  ElfImage img;
  img.is64 = sizeof(Ehdr) == sizeof(Elf64_Ehdr);
  img.entry = eh.e_entry;
  for (unsigned i = 0; i < eh.e_phnum; ++i) {
    auto ph = read_at<Phdr>(f, eh.e_phoff + uint64_t{i} * sizeof(Phdr));
    if (ph.p_type != PT_LOAD && ph.p_type != PT_NOTE) continue;
    if (ph.p_offset > f.size() || ph.p_filesz > f.size() - ph.p_offset)
      throw error("ELF segment {} lies outside the file", i);
    if (ph.p_type == PT_LOAD && ph.p_memsz < ph.p_filesz) throw error("ELF segment {} has memsz < filesz", i);
    ElfSegment s{ph.p_paddr, ph.p_vaddr, ph.p_offset, ph.p_filesz, ph.p_memsz};
    (ph.p_type == PT_LOAD ? img.loads : img.notes).push_back(s);
  }
  if (img.loads.empty()) throw Error("ELF file has no loadable segments");
  return img;
}

}  // namespace

bool is_elf(std::span<const uint8_t> f) { return f.size() >= EI_NIDENT && std::memcmp(f.data(), ELFMAG, SELFMAG) == 0; }

ElfImage parse_elf(std::span<const uint8_t> f) {
  if (!is_elf(f)) throw Error("not an ELF file");
  if (f[EI_DATA] != ELFDATA2LSB) throw Error("ELF file is not little-endian");
  if (f[EI_CLASS] == ELFCLASS64) return parse<Elf64_Ehdr, Elf64_Phdr>(f);
  if (f[EI_CLASS] == ELFCLASS32) return parse<Elf32_Ehdr, Elf32_Phdr>(f);
  throw error("ELF class {} is unknown", f[EI_CLASS]);
}

std::optional<std::span<const uint8_t>> find_elf_note(std::span<const uint8_t> f, const ElfImage& elf,
                                                      std::string_view name, uint32_t type) {
  auto align4 = [](uint64_t v) { return (v + 3) & ~uint64_t{3}; };
  for (const auto& n : elf.notes) {
    uint64_t off = n.file_offset, end = n.file_offset + n.file_size;
    while (off + 12 <= end) {
      uint32_t namesz = read_at<uint32_t>(f, off), descsz = read_at<uint32_t>(f, off + 4),
               ntype = read_at<uint32_t>(f, off + 8);
      uint64_t name_off = off + 12, desc_off = name_off + align4(namesz), next = desc_off + align4(descsz);
      if (next > end) break;
      std::string_view nname(reinterpret_cast<const char*>(f.data() + name_off), namesz);
      if (!nname.empty() && nname.back() == '\0') nname.remove_suffix(1);
      if (ntype == type && nname == name) return f.subspan(desc_off, descsz);
      off = next;
    }
  }
  return std::nullopt;
}

uint64_t load_elf_segments(std::span<const uint8_t> f, const ElfImage& elf, const GuestMemory& mem) {
  uint64_t top = 0;
  for (const auto& s : elf.loads) {
    if (s.mem_size == 0) continue;
    uint8_t* dst = mem.host_ptr(s.paddr, s.mem_size);
    if (!dst)
      throw error("kernel segment at {:#x} ({:#x} bytes) does not fit in guest RAM: give the VM more memory", s.paddr,
                  s.mem_size);
    std::memcpy(dst, f.data() + s.file_offset, s.file_size);
    std::memset(dst + s.file_size, 0, s.mem_size - s.file_size);
    top = std::max(top, s.paddr + s.mem_size);
  }
  return top;
}

}  // namespace insula::x86
