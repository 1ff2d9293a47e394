// Builds small ELF32 images in memory for loader tests.
#pragma once

#include <elf.h>

#include <cstring>
#include <string>
#include <vector>

namespace insula::x86::testing {

struct ElfSpec {
  uint32_t paddr = 0x100000;
  uint32_t entry = 0x100000;
  std::vector<uint8_t> code;
  uint32_t bss = 0;
  std::vector<uint8_t> note;  // raw PT_NOTE contents, if any
};

inline void append(std::vector<uint8_t>& v, const void* p, size_t n) {
  auto* b = static_cast<const uint8_t*>(p);
  v.insert(v.end(), b, b + n);
}

// A note with name, type and a 4-byte descriptor.
inline std::vector<uint8_t> make_note(const std::string& name, uint32_t type, uint32_t desc) {
  std::vector<uint8_t> n;
  uint32_t hdr[3] = {static_cast<uint32_t>(name.size() + 1), 4, type};
  append(n, hdr, sizeof hdr);
  std::string padded = name;
  padded.resize((name.size() + 1 + 3) & ~size_t{3}, '\0');
  append(n, padded.data(), padded.size());
  append(n, &desc, 4);
  return n;
}

inline std::vector<uint8_t> make_elf32(const ElfSpec& s) {
  uint16_t phnum = s.note.empty() ? 1 : 2;
  uint32_t data_off = sizeof(Elf32_Ehdr) + phnum * sizeof(Elf32_Phdr);
  Elf32_Ehdr eh{};
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS32;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_ident[EI_VERSION] = EV_CURRENT;
  eh.e_type = ET_EXEC;
  eh.e_machine = EM_386;
  eh.e_version = EV_CURRENT;
  eh.e_entry = s.entry;
  eh.e_phoff = sizeof(Elf32_Ehdr);
  eh.e_ehsize = sizeof(Elf32_Ehdr);
  eh.e_phentsize = sizeof(Elf32_Phdr);
  eh.e_phnum = phnum;
  std::vector<uint8_t> out;
  append(out, &eh, sizeof eh);
  Elf32_Phdr load{};
  load.p_type = PT_LOAD;
  load.p_offset = data_off;
  load.p_vaddr = load.p_paddr = s.paddr;
  load.p_filesz = static_cast<uint32_t>(s.code.size());
  load.p_memsz = static_cast<uint32_t>(s.code.size()) + s.bss;
  append(out, &load, sizeof load);
  if (!s.note.empty()) {
    Elf32_Phdr note{};
    note.p_type = PT_NOTE;
    note.p_offset = data_off + static_cast<uint32_t>(s.code.size());
    note.p_filesz = static_cast<uint32_t>(s.note.size());
    append(out, &note, sizeof note);
  }
  append(out, s.code.data(), s.code.size());
  append(out, s.note.data(), s.note.size());
  return out;
}

}  // namespace insula::x86::testing
