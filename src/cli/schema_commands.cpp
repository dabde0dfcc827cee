// `ecsdb validate` and `ecsdb codegen`: the schema tools (docs/schema.md).
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "ecsdb/schema.hpp"

namespace ecsdb::cli {

namespace {

// Keys in the order written, so the output reads database, version, tables as documented.
using Json = nlohmann::ordered_json;

constexpr int kExitOk = 0;
constexpr int kExitRuntimeError = 1;
constexpr int kExitInvalid = 2;

std::string hex64(std::uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%016llx", static_cast<unsigned long long>(v));
  return buf;
}

Json diagnostics_json(const std::vector<SchemaDiagnostic>& diagnostics) {
  Json errors = Json::array();
  for (const SchemaDiagnostic& d : diagnostics) {
    Json e = {{"file", d.file},       {"line", d.location.line}, {"column", d.location.column},
                        {"table", d.table},     {"field", d.field},        {"message", d.message},
                        {"hint", d.hint}};
    if (!d.type_kind.empty()) {
      e["type_kind"] = d.type_kind;
      e["type_name"] = d.type_name;
    }
    errors.push_back(std::move(e));
  }
  return {{"errors", errors}};
}

// Loads `path`; on failure prints every diagnostic (text to stderr, or JSON to stdout) and returns null.
std::shared_ptr<const Schema> load_or_report(const std::string& path, bool json) {
  std::vector<SchemaDiagnostic> diagnostics;
  auto schema = load_schema_file(path, &diagnostics);
  if (schema) return *schema;
  if (diagnostics.empty()) {
    SchemaDiagnostic d;
    d.file = path;
    d.message = schema.status().message();
    diagnostics.push_back(std::move(d));
  }
  if (json) {
    std::cout << diagnostics_json(diagnostics).dump(2) << '\n';
  } else {
    for (const SchemaDiagnostic& d : diagnostics) std::cerr << d.to_string() << '\n';
    std::cerr << diagnostics.size() << " error(s)\n";
  }
  return nullptr;
}

Json field_json(const Field& f) {
  Json j = {{"name", f.name},           {"type", f.type.spelling}, {"offset", f.offset},
                      {"size", f.type.size},      {"align", f.type.align},   {"stored", f.stored},
                      {"unique", f.unique},       {"auto_increment", f.auto_increment},
                      {"deprecated", f.deprecated}, {"owner_key", f.is_owner_key}};
  if (f.foreign_key) {
    j["foreign_key"] = f.foreign_key->table + "." + f.foreign_key->field;
    j["on_delete"] = std::string(to_string(f.on_delete));
  }
  if (f.default_value) {
    const DefaultValue& d = *f.default_value;
    if (f.type.kind == TypeKind::kEnum) {
      j["default"] = d.string;
    } else {
      switch (d.kind) {
        case DefaultValue::Kind::kInteger: j["default"] = d.integer; break;
        case DefaultValue::Kind::kFloat: j["default"] = d.floating; break;
        case DefaultValue::Kind::kBool: j["default"] = d.boolean; break;
        case DefaultValue::Kind::kString: j["default"] = d.string; break;
      }
    }
  }
  return j;
}

Json fields_json(const Layout& layout) {
  Json fields = Json::array();
  for (const Field& f : layout.fields) fields.push_back(field_json(f));
  return fields;
}

Json schema_json(const Schema& schema) {
  Json tables = Json::array();
  for (const Table& t : schema.tables) {
    Json row_order = Json::array();
    for (std::uint16_t id : t.layout.row_order) row_order.push_back(t.layout.fields[id].name);
    tables.push_back({{"name", t.name},
                      {"id", t.id},
                      {"stride", t.layout.stride},
                      {"align", t.layout.align},
                      {"cardinality", std::string(to_string(t.cardinality))},
                      {"parent_table", t.parent_table.empty() ? Json(nullptr) : Json(t.parent_table)},
                      {"primary_key", t.primary_key.empty() ? Json(nullptr) : Json(t.primary_key)},
                      {"owner_key", t.owner_key ? Json(t.owner_key->name) : Json(nullptr)},
                      {"is_entity_table", t.is_entity_table},
                      {"row_order", row_order},
                      {"fields", fields_json(t.layout)}});
  }
  Json enums = Json::array();
  for (const auto& e : schema.enums) {
    Json variants = Json::array();
    for (const auto& [name, value] : e->variants) variants.push_back({{"name", name}, {"value", value}});
    enums.push_back({{"name", e->name}, {"type", std::string(to_string(e->underlying))}, {"variants", variants}});
  }
  Json structs = Json::array();
  for (const auto& s : schema.structs) {
    structs.push_back({{"name", s->name}, {"size", s->layout.stride}, {"align", s->layout.align},
                       {"fields", fields_json(s->layout)}});
  }
  return {{"database", schema.database}, {"version", schema.version},   {"layout_hash", hex64(schema.layout_hash())},
          {"tables", tables},            {"enums", enums},              {"structs", structs}};
}

std::string flags_of(const Field& f) {
  std::vector<std::string> flags;
  if (f.is_owner_key) flags.emplace_back("owner key");
  if (f.unique) flags.emplace_back("unique");
  if (f.auto_increment) flags.emplace_back("auto_increment");
  if (f.foreign_key) {
    flags.push_back("fk->" + f.foreign_key->table + "." + f.foreign_key->field + " on_delete " +
                    std::string(to_string(f.on_delete)));
  }
  if (f.deprecated) flags.emplace_back("deprecated");
  if (!f.stored && !f.is_owner_key) flags.emplace_back("registry");
  if (f.default_value) {
    const DefaultValue& d = *f.default_value;
    std::ostringstream v;
    if (f.type.kind == TypeKind::kEnum || d.kind == DefaultValue::Kind::kString) {
      v << '"' << d.string << '"';
    } else if (d.kind == DefaultValue::Kind::kFloat) {
      v << d.floating;
    } else if (d.kind == DefaultValue::Kind::kBool) {
      v << (d.boolean ? "true" : "false");
    } else {
      v << d.integer;
    }
    flags.push_back("default " + v.str());
  }
  std::string out;
  for (const std::string& s : flags) out += (out.empty() ? "" : ", ") + s;
  return out;
}

void print_fields(std::ostream& out, const Layout& layout) {
  std::size_t name_width = 5;
  std::size_t type_width = 4;
  for (const Field& f : layout.fields) {
    name_width = std::max(name_width, f.name.size());
    type_width = std::max(type_width, f.type.spelling.size());
  }
  out << "    " << std::left << std::setw(static_cast<int>(name_width)) << "field" << "  "
      << std::setw(static_cast<int>(type_width)) << "type" << "  offset  size  align  flags\n";
  // Row order first (what the bytes look like), then the fields kept outside the row.
  std::vector<const Field*> shown;
  for (std::uint16_t id : layout.row_order) shown.push_back(&layout.fields[id]);
  for (const Field& f : layout.fields) {
    if (!f.stored) shown.push_back(&f);
  }
  for (const Field* f : shown) {
    std::ostringstream line;
    line << "    " << std::left << std::setw(static_cast<int>(name_width)) << f->name << "  "
         << std::setw(static_cast<int>(type_width)) << f->type.spelling << "  " << std::right << std::setw(6)
         << (f->stored ? std::to_string(f->offset) : std::string("-")) << "  " << std::setw(4) << f->type.size << "  "
         << std::setw(5) << f->type.align << "  " << flags_of(*f);
    std::string text = line.str();
    text.erase(text.find_last_not_of(' ') + 1);
    out << text << '\n';
  }
}

void print_summary(std::ostream& out, const Schema& schema) {
  out << schema.source << ": ok\n";
  out << "database " << schema.database << " version " << schema.version << ": " << schema.tables.size()
      << " table(s), " << schema.enums.size() << " enum(s), " << schema.structs.size() << " struct(s), layout hash "
      << hex64(schema.layout_hash()) << "\n";
  for (const auto& e : schema.enums) {
    out << "\nenum " << e->name << " : " << to_string(e->underlying) << " {";
    for (std::size_t i = 0; i < e->variants.size(); ++i) {
      out << (i == 0 ? " " : ", ") << e->variants[i].first << " = " << e->variants[i].second;
    }
    out << " }\n";
  }
  for (const auto& s : schema.structs) {
    out << "\nstruct " << s->name << ": " << s->layout.stride << " bytes, align " << s->layout.align << "\n";
    print_fields(out, s->layout);
  }
  for (const Table& t : schema.tables) {
    out << "\ntable " << t.name << " (id " << t.id;
    if (t.is_entity_table) {
      out << ", the entity registry";
    } else {
      out << ", cardinality " << to_string(t.cardinality);
      if (!t.parent_table.empty()) out << ", parent " << t.parent_table;
    }
    if (!t.primary_key.empty()) out << ", primary key " << t.primary_key;
    out << "): ";
    if (t.layout.stride == 0) {
      out << "no row data\n";
    } else {
      out << "stride " << t.layout.stride << ", " << t.layout.stride << " bytes per row, align " << t.layout.align
          << "\n";
    }
    print_fields(out, t.layout);
  }
}

}  // namespace

void add_validate_command(CLI::App& root, int& exit_code) {
  struct Options {
    std::string file;
    bool json = false;
  };
  auto options = std::make_shared<Options>();
  CLI::App* cmd = root.add_subcommand("validate", "Check a TOML schema and print its tables and row layout");
  cmd->add_option("FILE", options->file, "the schema file (.toml)")->required();
  cmd->add_flag("--json", options->json, "print the layout (or the errors) as JSON");
  cmd->callback([options, &exit_code] {
    const auto schema = load_or_report(options->file, options->json);
    if (!schema) {
      exit_code = kExitInvalid;
      return;
    }
    if (options->json) {
      std::cout << schema_json(*schema).dump(2) << '\n';
    } else {
      print_summary(std::cout, *schema);
    }
    exit_code = kExitOk;
  });
}

void add_codegen_command(CLI::App& root, int& exit_code) {
  struct Options {
    std::string file;
    std::string output;
  };
  auto options = std::make_shared<Options>();
  CLI::App* cmd = root.add_subcommand("codegen", "Generate a C++ header with one struct per table, in row order");
  cmd->add_option("FILE", options->file, "the schema file (.toml)")->required();
  cmd->add_option("-o,--output", options->output, "the header to write (default: standard output)");
  cmd->callback([options, &exit_code] {
    const auto schema = load_or_report(options->file, false);
    if (!schema) {
      exit_code = kExitInvalid;
      return;
    }
    const std::string header = generate_cpp_header(*schema);
    if (options->output.empty()) {
      std::cout << header;
      exit_code = kExitOk;
      return;
    }
    // Write beside and rename, so a build never sees a half-written header.
    const std::string temp = options->output + ".tmp";
    {
      std::ofstream out(temp, std::ios::binary | std::ios::trunc);
      out << header;
      out.close();
      if (!out) {
        std::cerr << "ecsdb codegen: cannot write " << temp << '\n';
        exit_code = kExitRuntimeError;
        return;
      }
    }
    if (std::rename(temp.c_str(), options->output.c_str()) != 0) {
      std::cerr << "ecsdb codegen: cannot write " << options->output << '\n';
      std::remove(temp.c_str());
      exit_code = kExitRuntimeError;
      return;
    }
    exit_code = kExitOk;
  });
}

}  // namespace ecsdb::cli
