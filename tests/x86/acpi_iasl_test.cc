// Our tables as ACPICA reads them: each table is disassembled by iasl (the
// same parser as Linux's ACPI core) and must parse without errors and name
// what we put in.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "arch/x86/acpi_tables.h"

namespace insula::x86 {
namespace {

namespace fs = std::filesystem;

bool have_iasl() {
  return std::system("iasl -v >/dev/null 2>&1") == 0 && std::system("command -v acpiexec >/dev/null 2>&1") == 0;
}

class Iasl : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_iasl()) GTEST_SKIP() << "iasl/acpiexec not installed (Debian package acpica-tools)";
    char tmpl[] = "/tmp/insula-iasl-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  // Disassembles `table`; returns the .dsl text, with iasl's own output
  // (which carries errors and warnings) in `log`.
  fs::path write(const std::string& name, const TableBytes& table) {
    fs::path bin = dir_ / (name + ".dat");
    std::ofstream(bin, std::ios::binary).write(reinterpret_cast<const char*>(table.data()), table.size());
    return bin;
  }

  // Runs acpiexec in batch mode on our tables; returns what it printed.
  std::string acpiexec(const std::string& commands, const std::vector<fs::path>& tables) {
    fs::path out = dir_ / "acpiexec.log";
    std::string cmd = "timeout 60 acpiexec -b \"" + commands + "\"";
    for (const auto& t : tables) cmd += " " + t.string();
    cmd += " >" + out.string() + " 2>&1";
    int rc = std::system(cmd.c_str());
    std::string log = slurp(out);
    EXPECT_EQ(rc, 0) << log;
    return log;
  }

  std::string disassemble(const std::string& name, const TableBytes& table, std::string& log) {
    fs::path bin = write(name, table), dsl = dir_ / (name + ".dsl"), out = dir_ / (name + ".log");
    std::string cmd = "cd " + dir_.string() + " && iasl -d " + bin.filename().string() + " >" + out.string() + " 2>&1";
    int rc = std::system(cmd.c_str());
    log = slurp(out);
    EXPECT_EQ(rc, 0) << log;
    return slurp(dsl);
  }

  static std::string slurp(const fs::path& p) {
    std::ifstream f(p);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
  }

  fs::path dir_;
};

AcpiConfig pci_config() {
  AcpiConfig cfg;
  cfg.num_cpus = 2;
  cfg.pci = true;
  cfg.mmio64_base = pci_mmio64_base(4ull << 30);
  cfg.mmio64_size = kPciMmio64Size;
  cfg.intx = {{1, 0, pci_intx_gsi(1, 0)}, {2, 3, pci_intx_gsi(2, 3)}};
  return cfg;
}

void expect_clean(const std::string& log) {
  EXPECT_EQ(log.find("Error"), std::string::npos) << log;
  EXPECT_EQ(log.find("Warning"), std::string::npos) << log;
}

TEST_F(Iasl, DsdtDisassembles) {
  std::string log;
  std::string dsl = disassemble("dsdt", build_dsdt(pci_config()), log);
  expect_clean(log);
  for (const char* want : {"_S5, Package (0x04)", "Device (C000)", "Device (C001)", "\"ACPI0007\"",
                           "Device (COM1)", "EisaId (\"PNP0501\")", "IO (Decode16,", "IRQNoFlags ()",
                           "Device (RTC)", "EisaId (\"PNP0B00\")", "Device (PCI0)", "EisaId (\"PNP0A08\")",
                           "EisaId (\"PNP0A03\")", "Name (_SEG, Zero)", "Name (_BBN, Zero)", "WordBusNumber (",
                           "WordIO (", "DWordMemory (", "QWordMemory (", "Name (_PRT, Package (0x02)",
                           "0x0001FFFF", "0x0002FFFF", "Device (MRES)", "EisaId (\"PNP0C02\")", "Memory32Fixed ("}) {
    EXPECT_NE(dsl.find(want), std::string::npos) << "missing " << want << "\n" << dsl;
  }
}

TEST_F(Iasl, DsdtWithoutPciDisassembles) {
  std::string log;
  std::string dsl = disassemble("dsdt", build_dsdt(AcpiConfig{}), log);
  expect_clean(log);
  EXPECT_NE(dsl.find("_S5, Package (0x04)"), std::string::npos) << dsl;
  EXPECT_EQ(dsl.find("PCI0"), std::string::npos) << dsl;
}

TEST_F(Iasl, FixedTablesDisassemble) {
  AcpiConfig cfg = pci_config();
  struct {
    const char* name;
    TableBytes bytes;
    const char* want;
  } tables[] = {
      {"facp", build_fadt(cfg, 0xE0040, 0xE0080), "PM Timer Block Address : 00000608"},
      {"apic", build_madt(cfg), "Local Apic Address : FEE00000"},
      {"mcfg", build_mcfg(cfg), "Base Address : 00000000E0000000"},
      {"xsdt", build_xsdt({0xE0100, 0xE0200}), "ACPI Table Address   1 : 00000000000E0200"},
      {"rsdt", build_rsdt({0xE0100, 0xE0200}), "ACPI Table Address   1 : 000E0200"},
  };
  for (auto& t : tables) {
    std::string log;
    std::string dsl = disassemble(t.name, t.bytes, log);
    expect_clean(log);
    EXPECT_EQ(dsl.find("Invalid"), std::string::npos) << dsl;
    EXPECT_NE(dsl.find(t.want), std::string::npos) << t.name << ": missing '" << t.want << "'\n" << dsl;
  }
}

// ACPICA's interpreter (what Linux runs) loads FADT, DSDT, MADT and MCFG
// together and evaluates the objects Linux uses for power-off and PCI.
TEST_F(Iasl, AcpiexecEvaluatesS5PrtAndCrs) {
  AcpiConfig cfg = pci_config();
  std::vector<fs::path> tables{write("facp", build_fadt(cfg, 0xE0040, 0xE0080)), write("dsdt", build_dsdt(cfg)),
                               write("apic", build_madt(cfg)), write("mcfg", build_mcfg(cfg))};
  std::string log = acpiexec("evaluate \\_S5; resources \\_SB.PCI0; resources \\_SB.MRES; resources \\_SB.COM1",
                             tables);
  EXPECT_NE(log.find("1 ACPI AML tables successfully acquired and loaded"), std::string::npos) << log;
  for (const char* bad : {"ACPI Error", "ACPI Exception", "Namespace lookup failure", "AE_AML_"})
    EXPECT_EQ(log.find(bad), std::string::npos) << bad << "\n" << log;
  for (const char* want : {
           "Evaluation of \\_S5 returned object", "[Integer] = 0000000000000005",
           // _PRT as ACPICA's PCI routing reader sees it
           "Address : 000000000001FFFF", "Source Index : 00000011", "Address : 000000000002FFFF",
           "Source Index : 00000015",
           // _CRS windows
           "Resource Type : Bus Number Range", "Address Minimum : 0CF8", "Address Minimum : 1000",
           "Address Maximum : FFFF", "Address Minimum : C0000000", "Address Maximum : DFFFFFFF",
           "Address Minimum : 0000000140000000", "Address : E0000000", "Address Length : 00100000",
           "Address Minimum : 03F8"}) {
    EXPECT_NE(log.find(want), std::string::npos) << "missing " << want << "\n" << log;
  }
}

}  // namespace
}  // namespace insula::x86
