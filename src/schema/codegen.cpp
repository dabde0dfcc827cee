// `ecsdb codegen`: a C++ header whose structs are byte-for-byte the schema's rows (docs/schema.md, "Codegen").
//
// Members are emitted in row order, so the compiler's own layout rule gives the schema's offsets with no
// padding to spell out; the static_asserts make any disagreement a compile error in the user's build rather
// than a binding mismatch at run time.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <limits>
#include <set>
#include <sstream>

#include "ecsdb/schema.hpp"
#include "schema/codegen.hpp"

namespace ecsdb::schema_internal {

namespace {

// ECSDB_FOR_EACH in bind.hpp expands at most this many members.
constexpr std::size_t kMaxBoundMembers = 64;

bool is_cpp_keyword_like(std::string_view s) {
  static const std::set<std::string_view> keywords = {
      "alignas", "alignof", "and", "asm", "auto", "bool", "break", "case", "catch", "char", "class", "const",
      "constexpr", "continue", "default", "delete", "do", "double", "else", "enum", "explicit", "export",
      "extern", "false", "float", "for", "friend", "goto", "if", "inline", "int", "long", "mutable", "namespace",
      "new", "not", "nullptr", "operator", "or", "private", "protected", "public", "register", "return", "short",
      "signed", "sizeof", "static", "struct", "switch", "template", "this", "throw", "true", "try", "typedef",
      "typename", "union", "unsigned", "using", "virtual", "void", "volatile", "while", "xor", "std", "ecsdb"};
  return keywords.count(s) != 0;
}

std::string scalar_cpp(ScalarKind k) {
  switch (k) {
    case ScalarKind::kU8: return "std::uint8_t";
    case ScalarKind::kU16: return "std::uint16_t";
    case ScalarKind::kU32: return "std::uint32_t";
    case ScalarKind::kU64: return "std::uint64_t";
    case ScalarKind::kI8: return "std::int8_t";
    case ScalarKind::kI16: return "std::int16_t";
    case ScalarKind::kI32: return "std::int32_t";
    case ScalarKind::kI64: return "std::int64_t";
    case ScalarKind::kF32: return "float";
    case ScalarKind::kF64: return "double";
    case ScalarKind::kBool: return "bool";
  }
  return "?";
}

std::string integer_literal(ScalarKind k, std::int64_t v) {
  if (v == std::numeric_limits<std::int64_t>::min()) return "(-9223372036854775807LL - 1)";
  std::string s = std::to_string(v);
  if (k == ScalarKind::kU64) s += "ULL";
  if (k == ScalarKind::kI64) s += "LL";
  if (k == ScalarKind::kU32) s += "U";
  return s;
}

std::string string_literal(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      // Octal escapes are at most three digits, so a following digit cannot extend them (unlike \x).
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\%03o", c);
      out += buf;
    }
  }
  return out + "\"";
}

// The default member initializer for `f`, "" when it has none (or none C++ can spell simply).
std::string initializer(const Field& f) {
  if (!f.default_value) return {};
  const DefaultValue& d = *f.default_value;
  const Type& t = f.type;
  switch (t.kind) {
    case TypeKind::kEnum: return " = " + t.spelling + "::" + d.string;
    case TypeKind::kString: return "{" + string_literal(d.string) + "}";
    case TypeKind::kScalar: break;
    default: return {};
  }
  switch (d.kind) {
    case DefaultValue::Kind::kBool: return d.boolean ? " = true" : " = false";
    case DefaultValue::Kind::kInteger: return " = " + integer_literal(t.scalar, d.integer);
    case DefaultValue::Kind::kFloat: {
      if (!std::isfinite(d.floating)) return {};
      char buf[64];
      std::snprintf(buf, sizeof buf, t.scalar == ScalarKind::kF32 ? "%.9g" : "%.17g", d.floating);
      std::string s = buf;
      if (s.find_first_of(".eE") == std::string::npos) s += ".0";
      return " = " + s + (t.scalar == ScalarKind::kF32 ? "f" : "");
    }
    case DefaultValue::Kind::kString: return {};
  }
  return {};
}

void emit_members(std::ostringstream& out, const std::string& type_name, const Layout& layout) {
  out << "struct " << type_name << " {\n";
  for (std::uint16_t id : layout.row_order) {
    const Field& f = layout.fields[id];
    out << "  " << cpp_type(f.type) << ' ' << f.name << initializer(f) << ";";
    out << "  // offset " << f.offset << ", " << f.type.spelling;
    if (f.deprecated) out << ", deprecated";
    out << '\n';
  }
  out << "};\n";
  out << "static_assert(sizeof(" << type_name << ") == " << layout.stride << ");\n";
  out << "static_assert(alignof(" << type_name << ") == " << layout.align << ");\n";
  for (std::uint16_t id : layout.row_order) {
    const Field& f = layout.fields[id];
    out << "static_assert(offsetof(" << type_name << ", " << f.name << ") == " << f.offset << ");\n";
  }
  out << '\n';
}

void emit_binding(std::ostringstream& out, std::string_view macro, const std::string& qualified,
                  std::string_view schema_name, const Layout& layout) {
  if (layout.row_order.size() > kMaxBoundMembers) {
    out << "// " << qualified << ": " << layout.row_order.size() << " members, more than " << macro
        << " can list (" << kMaxBoundMembers << "); bind it by hand.\n";
    return;
  }
  out << macro << '(' << qualified << ", \"" << schema_name << '"';
  for (std::uint16_t id : layout.row_order) out << ", " << layout.fields[id].name;
  out << ")\n";
}

// Structs in an order where each comes after the structs its fields use.
std::vector<const StructDef*> dependency_order(const Schema& schema) {
  std::vector<const StructDef*> order;
  std::set<const StructDef*> done;
  std::function<void(const StructDef&)> visit = [&](const StructDef& s) {
    if (!done.insert(&s).second) return;
    for (const Field& f : s.layout.fields) {
      const Type* t = &f.type;
      while (t->kind == TypeKind::kArray) t = t->element.get();
      if (t->kind == TypeKind::kStruct) visit(*t->struct_def);
    }
    order.push_back(&s);
  };
  for (const auto& s : schema.structs) visit(*s);
  return order;
}

}  // namespace

std::string pascal_case(std::string_view table_name) {
  std::string out;
  bool upper = true;
  for (char c : table_name) {
    if (c == '_') {
      upper = true;
      continue;
    }
    out += upper && c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
    upper = false;
  }
  if (out.empty() || (out[0] >= '0' && out[0] <= '9')) out.insert(0, "T");
  return out;
}

std::string namespace_name(std::string_view database_name) {
  std::string out;
  for (char c : database_name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    out += ok ? c : '_';
  }
  if (out.empty()) return "ecsdb_schema";
  if (out[0] >= '0' && out[0] <= '9') out.insert(0, "db_");
  if (is_cpp_keyword_like(out)) out += '_';
  return out;
}

std::string cpp_type(const Type& type) {
  switch (type.kind) {
    case TypeKind::kScalar: return scalar_cpp(type.scalar);
    case TypeKind::kArray: return "std::array<" + cpp_type(*type.element) + ", " + std::to_string(type.length) + ">";
    case TypeKind::kEnum: return type.enum_def->name;
    case TypeKind::kStruct: return type.struct_def->name;
    case TypeKind::kString: return "ecsdb::FixedString<" + std::to_string(type.length) + ">";
    case TypeKind::kEntityRef: return "ecsdb::Entity";
  }
  return "?";
}

}  // namespace ecsdb::schema_internal

namespace ecsdb {

std::string generate_cpp_header(const Schema& schema) {
  using schema_internal::pascal_case;
  const std::string ns = schema_internal::namespace_name(schema.database);
  std::ostringstream out;
  // The file name only: an absolute path would make the header differ from machine to machine.
  const std::string from = std::filesystem::path(schema.source).filename().string();
  out << "// Generated by `ecsdb codegen` from " << (from.empty() ? "a schema" : from)
      << " (database '" << schema.database << "', version " << schema.version << "). Do not edit.\n";
  char hash[32];
  std::snprintf(hash, sizeof hash, "0x%016llx", static_cast<unsigned long long>(schema.layout_hash()));
  out << "// Layout hash " << hash << ". Members are in row order: each offset equals the schema's.\n";
  out << "#pragma once\n\n#include <cstddef>\n#include <cstdint>\n#include <array>\n\n#include <ecsdb/bind.hpp>\n\n";
  out << "namespace " << ns << " {\n\n";
  out << "inline constexpr std::uint64_t kLayoutHash = " << hash << "ULL;\n\n";
  for (const auto& e : schema.enums) {
    out << "enum class " << e->name << " : " << schema_internal::scalar_cpp(e->underlying) << " {";
    for (std::size_t i = 0; i < e->variants.size(); ++i) {
      out << (i == 0 ? " " : ", ") << e->variants[i].first << " = " << schema_internal::integer_literal(e->underlying, e->variants[i].second);
    }
    out << " };\n\n";
  }
  const std::vector<const StructDef*> structs = schema_internal::dependency_order(schema);
  for (const StructDef* s : structs) schema_internal::emit_members(out, s->name, s->layout);
  for (const Table& t : schema.tables) {
    if (t.layout.row_order.empty()) {
      out << "// table '" << t.name << "': no row data"
          << (t.is_entity_table ? " (the entity registry)" : " (a tag: presence is the information)") << ".\n\n";
      continue;
    }
    out << "// table '" << t.name << "', cardinality " << to_string(t.cardinality);
    if (!t.parent_table.empty()) out << ", parent " << t.parent_table;
    if (t.owner_key != nullptr) out << ", owner key '" << t.owner_key->name << "' (kept beside the row)";
    out << "\n";
    schema_internal::emit_members(out, pascal_case(t.name), t.layout);
  }
  out << "}  // namespace " << ns << "\n\n";
  for (const StructDef* s : structs) schema_internal::emit_binding(out, "ECSDB_STRUCT", ns + "::" + s->name, s->name, s->layout);
  for (const Table& t : schema.tables) {
    if (t.layout.row_order.empty()) continue;
    schema_internal::emit_binding(out, "ECSDB_COMPONENT", ns + "::" + pascal_case(t.name), t.name, t.layout);
  }
  return out.str();
}

}  // namespace ecsdb
