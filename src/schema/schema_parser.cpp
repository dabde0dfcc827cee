// TOML schema -> validated Schema. The format and every error are documented in docs/schema.md.
//
// The parser never stops at the first problem: it records a SchemaDiagnostic and carries on with what it can
// still check, so a user fixes a file in one round trip. Only a TOML syntax error ends parsing early, because
// toml++ gives no document past it. Checks that depend on another part of the file (foreign keys, owner
// keys, defaults of promoted entity references) run in a second pass once every table has been read.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <system_error>

#include <toml++/toml.h>

#include "ecsdb/schema.hpp"
#include "schema/codegen.hpp"
#include "schema/layout.hpp"

namespace ecsdb {
namespace {

using schema_internal::assign_layout;
using schema_internal::make_array_type;
using schema_internal::make_entity_ref_type;
using schema_internal::make_enum_type;
using schema_internal::make_scalar_type;
using schema_internal::make_string_type;
using schema_internal::make_struct_type;
using schema_internal::parse_scalar_kind;

using KeyList = std::vector<std::string_view>;

const KeyList kRootKeys = {"database", "tables", "enums", "structs"};
const KeyList kDatabaseKeys = {"name", "version"};
const KeyList kTableKeys = {"primary_key", "parent_table", "cardinality", "fields"};
const KeyList kFieldKeys = {"name",       "type",        "constraint", "auto_increment",
                                "default",    "deprecated",  "foreign_key", "on_delete"};
const KeyList kStructFieldKeys = {"name", "type", "default"};
const KeyList kEnumKeys = {"type", "variants"};
const KeyList kVariantKeys = {"name", "value"};

constexpr std::string_view kEntityTable = "entities";
constexpr std::string_view kEntityKey = "id";
// Bounds a single field (arrays of arrays can multiply fast); keeps every size and offset within 32 bits.
constexpr std::uint64_t kMaxTypeBytes = 1u << 24;

constexpr std::string_view kCppKeywords[] = {
    "alignas",   "alignof",      "and",          "and_eq",     "asm",         "auto",        "bitand",
    "bitor",     "bool",         "break",        "case",       "catch",       "char",        "char8_t",
    "char16_t",  "char32_t",     "class",        "compl",      "concept",     "const",       "consteval",
    "constexpr", "constinit",    "const_cast",   "continue",   "co_await",    "co_return",   "co_yield",
    "decltype",  "default",      "delete",       "do",         "double",      "dynamic_cast", "else",
    "enum",      "explicit",     "export",       "extern",     "false",       "float",       "for",
    "friend",    "goto",         "if",           "inline",     "int",         "long",        "mutable",
    "namespace", "new",          "noexcept",     "not",        "not_eq",      "nullptr",     "operator",
    "or",        "or_eq",        "private",      "protected",  "public",      "register",    "reinterpret_cast",
    "requires",  "return",       "short",        "signed",     "sizeof",      "static",      "static_assert",
    "static_cast", "struct",     "switch",       "template",   "this",        "thread_local", "throw",
    "true",      "try",          "typedef",      "typeid",     "typename",    "union",       "unsigned",
    "using",     "virtual",      "void",         "volatile",   "wchar_t",     "while",       "xor",
    "xor_eq"};

bool is_cpp_keyword(std::string_view s) {
  return std::find(std::begin(kCppKeywords), std::end(kCppKeywords), s) != std::end(kCppKeywords);
}

bool is_identifier(std::string_view s) {
  if (s.empty()) return false;
  auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  if (!alpha(s[0])) return false;
  return std::all_of(s.begin(), s.end(), [&](char c) { return alpha(c) || (c >= '0' && c <= '9'); });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// The candidate nearest to `word`, when near enough to be a plausible typo; "" otherwise.
template <typename Range>
std::string closest(std::string_view word, const Range& candidates) {
  std::string best;
  std::size_t best_distance = std::numeric_limits<std::size_t>::max();
  for (const auto& c : candidates) {
    const std::size_t d = edit_distance(word, c);
    if (d < best_distance) {
      best_distance = d;
      best = std::string(c);
    }
  }
  const std::size_t limit = std::max<std::size_t>(2, word.size() / 3);
  if (best_distance == 0 || best_distance > limit || best_distance >= word.size()) return {};
  return best;
}

std::string did_you_mean(const std::string& suggestion) {
  return suggestion.empty() ? std::string() : "did you mean '" + suggestion + "'?";
}

SourceLocation location_of(const toml::source_region& r) {
  return {static_cast<std::uint32_t>(r.begin.line), static_cast<std::uint32_t>(r.begin.column)};
}

bool before(const toml::source_region& a, const toml::source_region& b) {
  if (a.begin.line != b.begin.line) return a.begin.line < b.begin.line;
  return a.begin.column < b.begin.column;
}

std::string_view toml_type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::table: return "table";
    case toml::node_type::array: return "array";
    case toml::node_type::string: return "string";
    case toml::node_type::integer: return "integer";
    case toml::node_type::floating_point: return "float";
    case toml::node_type::boolean: return "boolean";
    case toml::node_type::date: return "date";
    case toml::node_type::time: return "time";
    case toml::node_type::date_time: return "date-time";
    default: return "nothing";
  }
}

bool fits(ScalarKind kind, std::int64_t v) {
  switch (kind) {
    case ScalarKind::kU8: return v >= 0 && v <= 0xff;
    case ScalarKind::kU16: return v >= 0 && v <= 0xffff;
    case ScalarKind::kU32: return v >= 0 && v <= 0xffffffffLL;
    case ScalarKind::kU64: return v >= 0;  // TOML integers stop at INT64_MAX
    case ScalarKind::kI8: return v >= -128 && v <= 127;
    case ScalarKind::kI16: return v >= -32768 && v <= 32767;
    case ScalarKind::kI32: return v >= std::numeric_limits<std::int32_t>::min() &&
                                  v <= std::numeric_limits<std::int32_t>::max();
    case ScalarKind::kI64: return true;
    default: return false;
  }
}

std::string kind_noun(const Type& t) {
  switch (t.kind) {
    case TypeKind::kArray: return "array";
    case TypeKind::kStruct: return "struct";
    case TypeKind::kEnum: return "enum";
    case TypeKind::kString: return "string";
    case TypeKind::kEntityRef: return "entity reference";
    case TypeKind::kScalar: return std::string(to_string(t.scalar));
  }
  return "?";
}

// Where a diagnostic belongs: a table or a struct/enum definition, and optionally one field of it.
struct Scope {
  std::string table;
  std::string type_kind;
  std::string type_name;
  std::string field;

  static Scope of_table(std::string name) { return Scope{std::move(name), {}, {}, {}}; }
  static Scope of_type(std::string kind, std::string name) { return Scope{{}, std::move(kind), std::move(name), {}}; }
  Scope with_field(std::string name) const {
    Scope s = *this;
    s.field = std::move(name);
    return s;
  }
};

// Per-field facts only the second pass needs.
struct FieldSource {
  const toml::node* default_node = nullptr;
  const toml::node* foreign_key_node = nullptr;
  const toml::node* on_delete_node = nullptr;
  const toml::node* auto_increment_node = nullptr;
  const toml::node* constraint_node = nullptr;
  bool type_ok = false;
};

struct TableSource {
  const toml::table* node = nullptr;
  std::vector<FieldSource> fields;  // parallel to table.layout.fields
  const toml::node* primary_key_node = nullptr;
  const toml::node* parent_node = nullptr;
  const toml::node* cardinality_node = nullptr;
  bool parent_ok = false;
};

struct StructSource {
  const toml::table* node = nullptr;
  enum class State : std::uint8_t { kPending, kResolving, kDone, kFailed } state = State::kPending;
};

class SchemaParser {
 public:
  SchemaParser(std::string source, std::vector<SchemaDiagnostic>& diagnostics)
      : source_(std::move(source)), diagnostics_(diagnostics), schema_(std::make_unique<Schema>()) {
    schema_->source = source_;
  }

  std::unique_ptr<Schema> run(const toml::table& root) {
    check_keys(root, kRootKeys, Scope{}, "top level");
    parse_database(root);
    const auto enums = ordered_section(root, "enums");
    const auto structs = ordered_section(root, "structs");
    check_type_names(enums, structs);
    for (const auto& [name, node] : enums) parse_enum(name, *node);
    for (const auto& [name, node] : structs) {
      auto def = std::make_unique<StructDef>();
      def->name = name;
      def->location = location_of(node->source());
      struct_sources_[def.get()] = StructSource{node};
      schema_->structs.push_back(std::move(def));
    }
    for (const auto& def : schema_->structs) resolve_struct(*def);
    parse_tables(root);
    if (!diagnostics_.empty()) return nullptr;
    return std::move(schema_);
  }

 private:
  void error(SourceLocation at, const Scope& scope, std::string message, std::string hint = {}) {
    SchemaDiagnostic d;
    d.file = source_;
    d.location = at;
    d.table = scope.table;
    d.type_kind = scope.type_kind;
    d.type_name = scope.type_name;
    d.field = scope.field;
    d.message = std::move(message);
    d.hint = std::move(hint);
    diagnostics_.push_back(std::move(d));
  }
  void error(const toml::node& at, const Scope& scope, std::string message, std::string hint = {}) {
    error(location_of(at.source()), scope, std::move(message), std::move(hint));
  }

  void check_keys(const toml::table& t, const KeyList& allowed, const Scope& scope, std::string_view where,
                  const KeyList& known_elsewhere = {}) {
    for (auto&& [key, value] : t) {
      const std::string_view k = key.str();
      if (std::find(allowed.begin(), allowed.end(), k) != allowed.end()) continue;
      const SourceLocation at = location_of(key.source());
      if (std::find(known_elsewhere.begin(), known_elsewhere.end(), k) != known_elsewhere.end()) {
        error(at, scope, "'" + std::string(k) + "' is not allowed in " + std::string(where),
              "only " + join(allowed) + " are");
        continue;
      }
      error(at, scope, "unknown key '" + std::string(k) + "' in " + std::string(where), did_you_mean(closest(k, allowed)));
    }
  }

  static std::string join(const KeyList& keys) {
    std::string out;
    for (std::string_view k : keys) {
      if (!out.empty()) out += ", ";
      out += "'" + std::string(k) + "'";
    }
    return out;
  }

  const toml::node* require(const toml::table& t, std::string_view key, const Scope& scope) {
    const toml::node* n = t.get(key);
    if (n == nullptr) error(t, scope, "missing required key '" + std::string(key) + "'");
    return n;
  }

  std::optional<std::string> string_of(const toml::node* n, std::string_view key, const Scope& scope) {
    if (n == nullptr) return std::nullopt;
    if (const auto* s = n->as_string()) return s->get();
    error(*n, scope, "'" + std::string(key) + "' must be a string, not " + std::string(toml_type_name(*n)));
    return std::nullopt;
  }

  std::optional<bool> bool_of(const toml::node* n, std::string_view key, const Scope& scope) {
    if (n == nullptr) return std::nullopt;
    if (const auto* b = n->as_boolean()) return b->get();
    error(*n, scope, "'" + std::string(key) + "' must be true or false, not " + std::string(toml_type_name(*n)));
    return std::nullopt;
  }

  // The sub-tables of [section.*], in the order they appear in the file (toml++ tables are sorted maps).
  std::vector<std::pair<std::string, const toml::table*>> ordered_section(const toml::table& root,
                                                                          std::string_view section) {
    std::vector<std::pair<std::string, const toml::table*>> out;
    const toml::node* n = root.get(section);
    if (n == nullptr) return out;
    const toml::table* t = n->as_table();
    if (t == nullptr) {
      error(*n, Scope{}, "'" + std::string(section) + "' must be a table, not " + std::string(toml_type_name(*n)),
            "write [" + std::string(section) + ".NAME] sections");
      return out;
    }
    for (auto&& [key, value] : *t) {
      if (const toml::table* sub = value.as_table()) {
        out.emplace_back(std::string(key.str()), sub);
      } else {
        error(value, Scope{}, "'" + std::string(section) + "." + std::string(key.str()) + "' must be a table, not " +
                                  std::string(toml_type_name(value)),
              "write [" + std::string(section) + "." + std::string(key.str()) + "]");
      }
    }
    std::stable_sort(out.begin(), out.end(),
                     [](const auto& a, const auto& b) { return before(a.second->source(), b.second->source()); });
    return out;
  }

  void parse_database(const toml::table& root) {
    const toml::node* n = root.get("database");
    if (n == nullptr) {
      error(SourceLocation{1, 1}, Scope{}, "missing required section [database]",
            "start the file with [database] name = \"...\" version = \"1.0.0\"");
      return;
    }
    const toml::table* db = n->as_table();
    if (db == nullptr) {
      error(*n, Scope{}, "'database' must be a table, not " + std::string(toml_type_name(*n)));
      return;
    }
    check_keys(*db, kDatabaseKeys, Scope{}, "[database]");
    if (auto name = string_of(require(*db, "name", Scope{}), "name", Scope{})) {
      if (name->empty()) error(*db->get("name"), Scope{}, "database name is empty");
      schema_->database = *name;
    }
    if (auto version = string_of(require(*db, "version", Scope{}), "version", Scope{})) schema_->version = *version;
  }

  // ---- names of types -------------------------------------------------------------------------------------

  bool check_name(const toml::node& at, const Scope& scope, std::string_view what, std::string_view name) {
    if (!is_identifier(name)) {
      error(at, scope, std::string(what) + " name '" + std::string(name) + "' is not an identifier",
            "use letters, digits and '_', not starting with a digit: it becomes a C++ name");
      return false;
    }
    return true;
  }

  bool is_builtin_type_name(std::string_view name) {
    ScalarKind k;
    return parse_scalar_kind(name, k) || name == "entity" || name == "str";
  }

  void check_type_names(const std::vector<std::pair<std::string, const toml::table*>>& enums,
                        const std::vector<std::pair<std::string, const toml::table*>>& structs) {
    std::vector<std::pair<std::string, const toml::table*>> all;
    for (const auto& e : enums) all.push_back(e);
    for (const auto& s : structs) all.push_back(s);
    std::map<std::string, const toml::table*> seen;
    for (const auto& [name, node] : all) {
      const bool is_enum = std::find(enums.begin(), enums.end(), std::make_pair(name, node)) != enums.end();
      const Scope scope = Scope::of_type(is_enum ? "enum" : "struct", name);
      if (!check_name(*node, scope, is_enum ? "enum" : "struct", name)) continue;
      if (is_cpp_keyword(name) || is_builtin_type_name(name)) {
        error(*node, scope, "'" + name + "' is a reserved name", "pick a name that is not a built-in type or C++ keyword");
        continue;
      }
      auto [it, inserted] = seen.emplace(name, node);
      if (!inserted) {
        const toml::table* second = before(it->second->source(), node->source()) ? node : it->second;
        error(*second, scope, "'" + name + "' is declared both as an enum and as a struct");
      }
    }
  }

  // ---- enums ----------------------------------------------------------------------------------------------

  void parse_enum(const std::string& name, const toml::table& node) {
    const Scope scope = Scope::of_type("enum", name);
    check_keys(node, kEnumKeys, scope, "an enum");
    auto def = std::make_unique<EnumDef>();
    def->name = name;
    def->location = location_of(node.source());
    if (const toml::node* t = node.get("type")) {
      if (auto spelling = string_of(t, "type", scope)) {
        ScalarKind k;
        if (!parse_scalar_kind(*spelling, k) || !is_integer(k)) {
          std::vector<std::string_view> integers = {"u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64"};
          error(*t, scope, "enum type must be an integer type, not '" + *spelling + "'",
                closest(*spelling, integers).empty() ? "use one of u8 u16 u32 u64 i8 i16 i32 i64"
                                                     : did_you_mean(closest(*spelling, integers)));
        } else {
          def->underlying = k;
        }
      }
    }
    const toml::node* variants = require(node, "variants", scope);
    if (variants != nullptr) {
      const toml::array* list = variants->as_array();
      if (list == nullptr) {
        error(*variants, scope, "'variants' must be an array, not " + std::string(toml_type_name(*variants)));
      } else if (list->empty()) {
        error(*variants, scope, "enum has no variants");
      } else {
        parse_variants(*def, *list, scope);
      }
    }
    schema_->enums.push_back(std::move(def));
  }

  void parse_variants(EnumDef& def, const toml::array& list, const Scope& scope) {
    // The value a plain-string variant takes; nullopt once the previous one was INT64_MAX (no successor).
    std::optional<std::int64_t> next = 0;
    for (const toml::node& item : list) {
      std::string variant;
      std::optional<std::int64_t> value = next;
      const toml::node* value_node = &item;
      if (const auto* s = item.as_string()) {
        variant = s->get();
      } else if (const toml::table* t = item.as_table()) {
        check_keys(*t, kVariantKeys, scope, "an enum variant");
        auto n = string_of(require(*t, "name", scope), "name", scope);
        if (!n) continue;
        variant = *n;
        if (const toml::node* v = t->get("value")) {
          value_node = v;
          if (const auto* i = v->as_integer()) {
            value = i->get();
          } else {
            error(*v, scope.with_field(variant), "variant value must be an integer, not " + std::string(toml_type_name(*v)));
            continue;
          }
        }
      } else {
        error(item, scope, "each variant must be a string or { name = \"...\", value = N }, not " +
                               std::string(toml_type_name(item)));
        continue;
      }
      next = value && *value < std::numeric_limits<std::int64_t>::max() ? std::optional<std::int64_t>(*value + 1)
                                                                         : std::nullopt;
      if (!is_identifier(variant) || is_cpp_keyword(variant)) {
        error(item, scope.with_field(variant), "variant name '" + variant + "' is not a usable identifier",
              "use letters, digits and '_', not a C++ keyword: it becomes a C++ enumerator");
        continue;
      }
      if (def.find_variant(variant) != nullptr) {
        error(item, scope.with_field(variant), "duplicate variant '" + variant + "'");
        continue;
      }
      if (!value || !fits(def.underlying, *value)) {
        const std::string shown = value ? std::to_string(*value) : std::string("9223372036854775808");
        error(*value_node, scope.with_field(variant),
              "value " + shown + " does not fit the enum's type " + std::string(to_string(def.underlying)),
              "widen the enum with type = \"...\"");
        continue;
      }
      def.variants.emplace_back(variant, *value);
    }
  }

  // ---- types ----------------------------------------------------------------------------------------------

  std::vector<std::string> known_type_names() const {
    std::vector<std::string> names = {"u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64", "f32", "f64", "bool",
                                      "entity"};
    for (const auto& e : schema_->enums) names.push_back(e->name);
    for (const auto& s : schema_->structs) names.push_back(s->name);
    return names;
  }

  std::optional<std::uint32_t> parse_length(std::string_view text, const toml::node& at, const Scope& scope,
                                            std::string_view what) {
    text = trim(text);
    std::uint64_t n = 0;
    bool ok = !text.empty() && text.size() <= 10;
    for (char c : text) {
      if (c < '0' || c > '9') ok = false;
      if (ok) n = n * 10 + static_cast<std::uint64_t>(c - '0');
    }
    if (!ok) {
      error(at, scope, std::string(what) + " '" + std::string(text) + "' is not a whole number");
      return std::nullopt;
    }
    if (n == 0) {
      error(at, scope, std::string(what) + " 0", std::string(what == "array length" ? "an array" : "a string") +
                                                     " holds at least one element");
      return std::nullopt;
    }
    if (n > kMaxTypeBytes) {
      error(at, scope, std::string(what) + " " + std::to_string(n) + " is too large",
            "a field may take at most " + std::to_string(kMaxTypeBytes) + " bytes");
      return std::nullopt;
    }
    return static_cast<std::uint32_t>(n);
  }

  // Resolves a type spelling; reports and returns nullopt when it is not a valid type. `at` is the node the
  // spelling came from, used for the position of any error.
  std::optional<Type> resolve_type(std::string_view text, const toml::node& at, const Scope& scope) {
    const std::string_view s = trim(text);
    if (s.empty()) {
      error(at, scope, "empty type");
      return std::nullopt;
    }
    if (s.front() == '[') {
      if (s.back() != ']') {
        error(at, scope, "malformed array type '" + std::string(s) + "'", "write arrays as [T; N], e.g. [f32; 3]");
        return std::nullopt;
      }
      const std::string_view inner = s.substr(1, s.size() - 2);
      std::size_t semicolon = std::string_view::npos;
      int depth = 0;
      for (std::size_t i = 0; i < inner.size(); ++i) {
        if (inner[i] == '[') ++depth;
        if (inner[i] == ']') --depth;
        if (inner[i] == ';' && depth == 0) semicolon = i;
      }
      if (semicolon == std::string_view::npos || depth != 0) {
        error(at, scope, "malformed array type '" + std::string(s) + "'", "write arrays as [T; N], e.g. [f32; 3]");
        return std::nullopt;
      }
      const auto length = parse_length(inner.substr(semicolon + 1), at, scope, "array length");
      auto element = resolve_type(inner.substr(0, semicolon), at, scope);
      if (!length || !element) return std::nullopt;
      if (static_cast<std::uint64_t>(element->size) * *length > kMaxTypeBytes) {
        error(at, scope, "type '" + std::string(s) + "' is too large",
              "a field may take at most " + std::to_string(kMaxTypeBytes) + " bytes");
        return std::nullopt;
      }
      return make_array_type(std::move(*element), *length);
    }
    if (s.substr(0, 3) == "str" && trim(s.substr(3)).substr(0, 1) == "<") {
      const std::string_view rest = trim(s.substr(3));
      if (rest.back() != '>') {
        error(at, scope, "malformed string type '" + std::string(s) + "'", "write strings as str<N>, e.g. str<32>");
        return std::nullopt;
      }
      const auto length = parse_length(rest.substr(1, rest.size() - 2), at, scope, "string length");
      if (!length) return std::nullopt;
      return make_string_type(*length);
    }
    if (s == "entity") return make_entity_ref_type();
    ScalarKind kind;
    if (parse_scalar_kind(s, kind)) return make_scalar_type(kind);
    if (const EnumDef* e = schema_->find_enum(s)) return make_enum_type(*e);
    for (const auto& def : schema_->structs) {
      if (def->name != s) continue;
      if (!resolve_struct(*def, &at, &scope)) return std::nullopt;
      return make_struct_type(*def);
    }
    std::string hint = did_you_mean(closest(s, known_type_names()));
    if (hint.empty() && (s == "string" || s == "str" || s == "String")) {
      hint = "strings have a fixed capacity: write str<N>, e.g. str<32>";
    }
    error(at, scope, "unknown type '" + std::string(s) + "'", hint);
    return std::nullopt;
  }

  // ---- structs --------------------------------------------------------------------------------------------

  // Lays out `def` once the structs it uses are laid out. Returns false when it cannot be (errors, or a
  // cycle, which is reported at the field that closes it when `user_at` is given).
  bool resolve_struct(StructDef& def, const toml::node* user_at = nullptr, const Scope* user_scope = nullptr) {
    StructSource& src = struct_sources_[&def];
    switch (src.state) {
      case StructSource::State::kDone: return true;
      case StructSource::State::kFailed: return false;
      case StructSource::State::kResolving: {
        std::string cycle;
        auto it = std::find(resolving_.begin(), resolving_.end(), &def);
        for (; it != resolving_.end(); ++it) cycle += (*it)->name + " -> ";
        cycle += def.name;
        if (user_at != nullptr) {
          error(*user_at, *user_scope, "recursive struct: " + cycle, "a struct cannot contain itself, even indirectly");
        }
        return false;
      }
      case StructSource::State::kPending: break;
    }
    src.state = StructSource::State::kResolving;
    resolving_.push_back(&def);
    const Scope scope = Scope::of_type("struct", def.name);
    const toml::table& node = *src.node;
    check_keys(node, {"fields"}, scope, "a struct", kTableKeys);
    bool ok = true;
    const toml::array* fields = fields_of(node, scope);
    if (fields == nullptr || fields->empty()) {
      if (node.get("fields") == nullptr || (fields != nullptr && fields->empty())) {
        error(node, scope, "struct has no fields");
      }
      ok = false;
    } else {
      for (const toml::node& item : *fields) {
        const toml::table* ft = item.as_table();
        if (ft == nullptr) {
          error(item, scope, "each entry of 'fields' must be a table, not " + std::string(toml_type_name(item)));
          ok = false;
          continue;
        }
        ok = parse_struct_field(def, *ft, scope) && ok;
      }
    }
    resolving_.pop_back();
    if (!ok) {
      src.state = StructSource::State::kFailed;
      return false;
    }
    assign_layout(def.layout);
    src.state = StructSource::State::kDone;
    return true;
  }

  const toml::array* fields_of(const toml::table& node, const Scope& scope) {
    const toml::node* n = node.get("fields");
    if (n == nullptr) return nullptr;
    const toml::array* a = n->as_array();
    if (a == nullptr) {
      error(*n, scope, "'fields' must be an array of tables, not " + std::string(toml_type_name(*n)),
            "declare each field with [[...fields]]");
    }
    return a;
  }

  // Name, type and default: what tables and structs share. Returns the field, with `ok` false on errors.
  struct ParsedField {
    Field field;
    bool ok = false;        // name and type both valid
    bool named = false;     // name valid (the field is worth keeping for later checks)
    bool typed = false;     // type valid
  };

  ParsedField parse_field_basics(const Layout& layout, const toml::table& ft, const Scope& scope) {
    ParsedField out;
    out.field.location = location_of(ft.source());
    Scope field_scope = scope;
    const toml::node* name_node = require(ft, "name", scope);
    if (auto name = string_of(name_node, "name", scope)) {
      field_scope = scope.with_field(*name);
      out.field.name = *name;  // for messages even when unusable; `named` says whether it is kept
      if (!is_identifier(*name)) {
        error(*name_node, field_scope, "field name '" + *name + "' is not an identifier",
              "use letters, digits and '_', not starting with a digit: it becomes a C++ member name");
      } else if (is_cpp_keyword(*name)) {
        error(*name_node, field_scope, "field name '" + *name + "' is a C++ keyword",
              "it becomes a C++ member name; try '" + *name + "_'");
      } else if (layout.find_field(*name) != nullptr) {
        error(*name_node, field_scope, "duplicate field '" + *name + "'");
      } else {
        out.named = true;
      }
    }
    const toml::node* type_node = require(ft, "type", field_scope);
    bool type_ok = false;
    if (auto spelling = string_of(type_node, "type", field_scope)) {
      if (auto type = resolve_type(*spelling, *type_node, field_scope)) {
        out.field.type = std::move(*type);
        type_ok = true;
      }
    }
    out.typed = type_ok;
    out.ok = out.named && type_ok;
    return out;
  }

  bool parse_struct_field(StructDef& def, const toml::table& ft, const Scope& scope) {
    ParsedField parsed = parse_field_basics(def.layout, ft, scope);
    const Scope field_scope = scope.with_field(parsed.field.name);
    check_keys(ft, kStructFieldKeys, field_scope, "a struct field", kFieldKeys);
    if (!parsed.ok) return false;
    if (const toml::node* d = ft.get("default")) {
      parsed.field.default_value = check_default(*d, parsed.field.type, field_scope);
      if (!parsed.field.default_value) return false;
    }
    parsed.field.id = static_cast<std::uint16_t>(def.layout.fields.size());
    def.layout.fields.push_back(std::move(parsed.field));
    return true;
  }

  // ---- defaults -------------------------------------------------------------------------------------------

  std::optional<DefaultValue> check_default(const toml::node& n, const Type& type, const Scope& scope) {
    DefaultValue v;
    auto wrong = [&](std::string_view expected) {
      error(n, scope, "default for a " + type.spelling + " field must be " + std::string(expected) + ", not " +
                          std::string(toml_type_name(n)));
      return std::nullopt;
    };
    switch (type.kind) {
      case TypeKind::kArray:
      case TypeKind::kStruct:
      case TypeKind::kEntityRef:
        error(n, scope, "default is not supported for " + kind_noun(type) + " fields",
              type.kind == TypeKind::kEntityRef ? "entity references start as the null entity"
                                                : "such fields start zero-filled");
        return std::nullopt;
      case TypeKind::kString: {
        const auto* s = n.as_string();
        if (s == nullptr) return wrong("a string");
        if (s->get().size() > type.length) {
          error(n, scope,
                "default \"" + s->get() + "\" is " + std::to_string(s->get().size()) + " bytes, longer than " +
                    type.spelling);
          return std::nullopt;
        }
        v.kind = DefaultValue::Kind::kString;
        v.string = s->get();
        return v;
      }
      case TypeKind::kEnum: {
        const EnumDef& e = *type.enum_def;
        v.kind = DefaultValue::Kind::kInteger;
        if (const auto* s = n.as_string()) {
          const auto* variant = e.find_variant(s->get());
          if (variant == nullptr) {
            std::vector<std::string> names;
            for (const auto& [vn, vv] : e.variants) names.push_back(vn);
            error(n, scope, "enum '" + e.name + "' has no variant '" + s->get() + "'", did_you_mean(closest(s->get(), names)));
            return std::nullopt;
          }
          v.integer = variant->second;
          v.string = variant->first;
          return v;
        }
        if (const auto* i = n.as_integer()) {
          for (const auto& [vn, vv] : e.variants) {
            if (vv == i->get()) {
              v.integer = vv;
              v.string = vn;
              return v;
            }
          }
          error(n, scope, "enum '" + e.name + "' has no variant with value " + std::to_string(i->get()));
          return std::nullopt;
        }
        return wrong("a variant name or its value");
      }
      case TypeKind::kScalar: break;
    }
    if (type.scalar == ScalarKind::kBool) {
      const auto* b = n.as_boolean();
      if (b == nullptr) return wrong("true or false");
      v.kind = DefaultValue::Kind::kBool;
      v.boolean = b->get();
      return v;
    }
    if (type.scalar == ScalarKind::kF32 || type.scalar == ScalarKind::kF64) {
      double d = 0;
      if (const auto* f = n.as_floating_point()) {
        d = f->get();
      } else if (const auto* i = n.as_integer()) {
        d = static_cast<double>(i->get());
      } else {
        return wrong("a number");
      }
      if (type.scalar == ScalarKind::kF32 && std::isfinite(d) && std::abs(d) > std::numeric_limits<float>::max()) {
        char shown[32];
        std::snprintf(shown, sizeof shown, "%g", d);
        error(n, scope, "default " + std::string(shown) + " is out of range for f32");
        return std::nullopt;
      }
      v.kind = DefaultValue::Kind::kFloat;
      v.floating = d;
      return v;
    }
    const auto* i = n.as_integer();
    if (i == nullptr) return wrong("an integer");
    if (!fits(type.scalar, i->get())) {
      error(n, scope, "default " + std::to_string(i->get()) + " is out of range for " + type.spelling);
      return std::nullopt;
    }
    v.kind = DefaultValue::Kind::kInteger;
    v.integer = i->get();
    return v;
  }

  // ---- tables ---------------------------------------------------------------------------------------------

  void parse_tables(const toml::table& root) {
    auto entries = ordered_section(root, "tables");
    // The registry comes first whatever its place in the file: its id is 0 everywhere.
    std::stable_partition(entries.begin(), entries.end(), [](const auto& e) { return e.first == kEntityTable; });
    if (entries.empty() || entries.front().first != kEntityTable) add_synthetic_entity_table();
    for (const auto& [name, node] : entries) {
      const Scope scope = Scope::of_table(name);
      if (!is_identifier(name)) {
        error(*node, scope, "table name '" + name + "' is not an identifier",
              "use letters, digits and '_', not starting with a digit: it becomes a C++ type name");
        continue;
      }
      Table table;
      table.name = name;
      table.location = location_of(node->source());
      table.is_entity_table = name == kEntityTable;
      TableSource src;
      src.node = node;
      parse_table_body(table, src, *node, scope);
      table.id = static_cast<std::uint16_t>(schema_->tables.size());
      schema_->tables.push_back(std::move(table));
      table_sources_.push_back(std::move(src));
    }
    check_generated_names();
    for (std::size_t i = 0; i < schema_->tables.size(); ++i) {
      Table& t = schema_->tables[i];
      if (t.is_entity_table) {
        finish_entity_table(t, table_sources_[i]);
      } else {
        finish_table(t, table_sources_[i]);
      }
      assign_layout(t.layout);
      // Owner key pointer set after the last change to the fields vector.
      t.owner_key = nullptr;
      for (const Field& f : t.layout.fields) {
        if (f.is_owner_key) t.owner_key = &f;
      }
    }
  }

  void add_synthetic_entity_table() {
    Table t;
    t.name = std::string(kEntityTable);
    t.is_entity_table = true;
    t.primary_key = std::string(kEntityKey);
    Field id;
    id.name = std::string(kEntityKey);
    id.type = make_scalar_type(ScalarKind::kU64);
    id.unique = true;
    id.stored = false;
    Field generation;
    generation.name = "version";
    generation.type = make_scalar_type(ScalarKind::kU32);
    generation.id = 1;
    generation.auto_increment = true;
    generation.stored = false;
    t.layout.fields.push_back(std::move(id));
    t.layout.fields.push_back(std::move(generation));
    schema_->tables.push_back(std::move(t));
    table_sources_.emplace_back();
    table_sources_.back().fields.resize(2);
    table_sources_.back().fields[0].type_ok = true;
    table_sources_.back().fields[1].type_ok = true;
  }

  void parse_table_body(Table& table, TableSource& src, const toml::table& node, const Scope& scope) {
    check_keys(node, kTableKeys, scope, "a table");
    src.primary_key_node = node.get("primary_key");
    if (auto pk = string_of(src.primary_key_node, "primary_key", scope)) table.primary_key = *pk;
    src.parent_node = node.get("parent_table");
    if (auto parent = string_of(src.parent_node, "parent_table", scope)) table.parent_table = *parent;
    src.cardinality_node = node.get("cardinality");
    if (auto card = string_of(src.cardinality_node, "cardinality", scope)) {
      if (*card == "one") {
        table.cardinality = Cardinality::kOne;
      } else if (*card == "many") {
        table.cardinality = Cardinality::kMany;
      } else {
        error(*src.cardinality_node, scope, "cardinality must be \"one\" or \"many\", not \"" + *card + "\"",
              did_you_mean(closest(*card, KeyList{"one", "many"})));
        src.cardinality_node = nullptr;
      }
    }
    const toml::array* fields = fields_of(node, scope);
    if (fields == nullptr) return;
    for (const toml::node& item : *fields) {
      const toml::table* ft = item.as_table();
      if (ft == nullptr) {
        error(item, scope, "each entry of 'fields' must be a table, not " + std::string(toml_type_name(item)));
        continue;
      }
      parse_table_field(table, src, *ft, scope);
    }
  }

  void parse_table_field(Table& table, TableSource& src, const toml::table& ft, const Scope& scope) {
    ParsedField parsed = parse_field_basics(table.layout, ft, scope);
    Field& f = parsed.field;
    const Scope field_scope = scope.with_field(f.name);
    check_keys(ft, kFieldKeys, field_scope, "a field");
    FieldSource fs;
    fs.type_ok = parsed.ok;
    fs.default_node = ft.get("default");
    fs.foreign_key_node = ft.get("foreign_key");
    fs.on_delete_node = ft.get("on_delete");
    fs.auto_increment_node = ft.get("auto_increment");
    fs.constraint_node = ft.get("constraint");
    if (auto c = string_of(fs.constraint_node, "constraint", field_scope)) {
      if (*c == "unique") {
        f.unique = true;
        if (parsed.ok && (f.type.kind == TypeKind::kArray || f.type.kind == TypeKind::kStruct)) {
          error(*fs.constraint_node, field_scope, "unique is not supported for " + kind_noun(f.type) + " fields",
                "unique applies to scalar, enum, string and entity fields");
        }
      } else {
        error(*fs.constraint_node, field_scope, "unknown constraint '" + *c + "'",
              closest(*c, KeyList{"unique"}).empty() ? "the only constraint is \"unique\"" : "did you mean 'unique'?");
      }
    }
    if (auto ai = bool_of(fs.auto_increment_node, "auto_increment", field_scope)) {
      f.auto_increment = *ai;
      if (*ai && parsed.ok && !(f.type.kind == TypeKind::kScalar && is_integer(f.type.scalar))) {
        error(*fs.auto_increment_node, field_scope,
              "auto_increment requires an integer field, not " + f.type.spelling);
      }
    }
    if (auto d = bool_of(ft.get("deprecated"), "deprecated", field_scope)) f.deprecated = *d;
    if (auto policy = string_of(fs.on_delete_node, "on_delete", field_scope)) {
      if (*policy == "restrict") {
        f.on_delete = OnDelete::kRestrict;
      } else if (*policy == "cascade") {
        f.on_delete = OnDelete::kCascade;
      } else if (*policy == "set_null") {
        f.on_delete = OnDelete::kSetNull;
      } else {
        const std::string near = closest(*policy, KeyList{"restrict", "cascade", "set_null"});
        error(*fs.on_delete_node, field_scope, "unknown on_delete policy '" + *policy + "'",
              near.empty() ? "use \"restrict\", \"cascade\" or \"set_null\"" : did_you_mean(near));
      }
    }
    if (!parsed.named) {
      // Dropped from the table (later passes need a usable name), but its default can still be checked now.
      if (fs.default_node != nullptr && parsed.typed && f.type.kind != TypeKind::kEntityRef) {
        check_default(*fs.default_node, f.type, field_scope);
      }
      return;
    }
    f.id = static_cast<std::uint16_t>(table.layout.fields.size());
    table.layout.fields.push_back(std::move(f));
    src.fields.push_back(fs);
  }

  void check_generated_names() {
    // `ecsdb codegen` turns table names into PascalCase types beside the struct and enum types: they must not
    // collide, or the generated header would not compile.
    std::map<std::string, std::string> taken;
    for (const auto& e : schema_->enums) taken.emplace(e->name, "enum '" + e->name + "'");
    for (const auto& s : schema_->structs) taken.emplace(s->name, "struct '" + s->name + "'");
    for (std::size_t i = 0; i < schema_->tables.size(); ++i) {
      const Table& t = schema_->tables[i];
      const std::string type = schema_internal::pascal_case(t.name);
      auto [it, inserted] = taken.emplace(type, "table '" + t.name + "'");
      if (!inserted) {
        error(t.location, Scope::of_table(t.name),
              "table name generates the C++ type '" + type + "', already used by " + it->second,
              "rename one of them");
      }
    }
  }

  void finish_entity_table(Table& t, TableSource& src) {
    const Scope scope = Scope::of_table(t.name);
    if (src.node == nullptr) return;  // synthesised: already right
    if (src.parent_node != nullptr) {
      error(*src.parent_node, scope, "the entities table cannot have a parent_table");
    }
    if (src.cardinality_node != nullptr) {
      error(*src.cardinality_node, scope, "the entities table has no cardinality",
            "remove 'cardinality': it holds one row per entity");
    }
    t.cardinality = Cardinality::kOne;
    if (src.primary_key_node != nullptr && !t.primary_key.empty() && t.primary_key != kEntityKey) {
      error(*src.primary_key_node, scope, "the entities table's primary key must be 'id', not '" + t.primary_key + "'");
    }
    t.primary_key = std::string(kEntityKey);
    bool has_id = false;
    bool has_generation = false;
    for (std::size_t i = 0; i < t.layout.fields.size(); ++i) {
      Field& f = t.layout.fields[i];
      const FieldSource& fs = src.fields[i];
      const Scope field_scope = scope.with_field(f.name);
      f.stored = false;
      for (const auto& [node, key] : {std::pair{fs.foreign_key_node, "foreign_key"}, std::pair{fs.on_delete_node, "on_delete"},
                                      std::pair{fs.default_node, "default"}}) {
        if (node != nullptr) error(*node, field_scope, "'" + std::string(key) + "' is not allowed in the entities table");
      }
      if (!fs.type_ok) continue;
      if (f.name == kEntityKey && !has_id) {
        has_id = true;
        if (f.type.kind != TypeKind::kScalar || f.type.scalar != ScalarKind::kU64) {
          error(f.location, field_scope, "the entities table's 'id' must be u64, not " + f.type.spelling);
        }
        f.unique = true;  // ids are unique by construction; writing the constraint is optional
        continue;
      }
      if (!has_generation && f.auto_increment && f.type.kind == TypeKind::kScalar && f.type.scalar == ScalarKind::kU32) {
        has_generation = true;
        continue;
      }
      error(f.location, field_scope,
            "the entities table may only hold 'id' (u64) and one u32 auto_increment generation field",
            "put entity data in a component table with parent_table = \"entities\"");
    }
    if (!has_id) {
      error(t.location, scope, "the entities table needs an 'id' field of type u64");
    }
  }

  void finish_table(Table& t, TableSource& src) {
    const Scope scope = Scope::of_table(t.name);
    // Parent and cardinality.
    const bool parent_given = src.parent_node != nullptr && src.parent_node->is_string();
    const bool has_parent = parent_given && !t.parent_table.empty();
    if (parent_given && t.parent_table.empty()) {
      error(*src.parent_node, scope, "parent_table is empty", "use parent_table = \"entities\" or remove it");
    }
    if (has_parent && t.parent_table != kEntityTable) {
      std::vector<std::string> names;
      for (const Table& other : schema_->tables) names.push_back(other.name);
      if (schema_->find_table(t.parent_table) != nullptr) {
        error(*src.parent_node, scope, "parent_table '" + t.parent_table + "': only the entities table may be a parent for now",
              "use parent_table = \"entities\"");
      } else {
        const std::string near = closest(t.parent_table, names);
        error(*src.parent_node, scope, "parent_table '" + t.parent_table + "' is not a table",
              near.empty() ? "use parent_table = \"entities\"" : did_you_mean(near));
      }
    } else if (has_parent) {
      src.parent_ok = true;
    }
    if (src.cardinality_node == nullptr) {
      t.cardinality = has_parent ? Cardinality::kOne : Cardinality::kMany;
    } else if (!has_parent && t.cardinality == Cardinality::kOne) {
      error(*src.cardinality_node, scope, "a table without parent_table must have cardinality \"many\"",
            "set parent_table = \"entities\" for a per-entity component, or use cardinality = \"many\"");
    }

    // Foreign keys and entity references.
    for (std::size_t i = 0; i < t.layout.fields.size(); ++i) {
      Field& f = t.layout.fields[i];
      const FieldSource& fs = src.fields[i];
      const Scope field_scope = scope.with_field(f.name);
      if (fs.foreign_key_node != nullptr) {
        resolve_foreign_key(f, fs, field_scope);
      } else if (fs.type_ok && f.type.kind == TypeKind::kEntityRef) {
        f.foreign_key = ForeignKey{std::string(kEntityTable), std::string(kEntityKey)};
      }
      if (fs.on_delete_node != nullptr && !f.foreign_key && fs.foreign_key_node == nullptr &&
          !(fs.type_ok && f.type.kind == TypeKind::kEntityRef)) {
        error(*fs.on_delete_node, field_scope, "on_delete requires a foreign_key",
              "add foreign_key = \"entities.id\", or make the field's type entity");
      }
      if (fs.default_node != nullptr && fs.type_ok) {
        f.default_value = check_default(*fs.default_node, f.type, field_scope);
      }
      if (fs.auto_increment_node != nullptr && f.auto_increment && f.foreign_key) {
        error(*fs.auto_increment_node, field_scope, "auto_increment is not allowed on a foreign key");
      }
    }

    // The owner key: the entity a component row belongs to, kept by the table's index rather than the row.
    if (has_parent && src.parent_ok) {
      Field* owner = nullptr;
      for (Field& f : t.layout.fields) {
        if (!f.foreign_key || f.foreign_key->table != kEntityTable || f.foreign_key->field != kEntityKey) continue;
        if (f.name == "entity_id") {
          owner = &f;
          break;
        }
        if (owner == nullptr) owner = &f;
      }
      if (owner != nullptr) {
        owner->is_owner_key = true;
        owner->stored = false;
        const FieldSource& fs = src.fields[owner->id];
        // A component dies with its entity: "restrict" would forbid destroying any entity that has one.
        if (fs.on_delete_node == nullptr) owner->on_delete = OnDelete::kCascade;
        if (owner->on_delete == OnDelete::kSetNull && fs.on_delete_node != nullptr) {
          error(*fs.on_delete_node, scope.with_field(owner->name),
                "on_delete = \"set_null\" is not allowed on the owner key", "a row cannot outlive its entity");
        }
      }
    }

    // The primary key, when named, must identify a row.
    if (src.primary_key_node != nullptr && !t.primary_key.empty()) {
      const Field* pk = t.find_field(t.primary_key);
      if (pk == nullptr) {
        std::vector<std::string> names;
        for (const Field& f : t.layout.fields) names.push_back(f.name);
        error(*src.primary_key_node, scope, "primary_key '" + t.primary_key + "' is not a field of the table",
              did_you_mean(closest(t.primary_key, names)));
      } else if (!pk->unique && !(pk->is_owner_key && t.cardinality == Cardinality::kOne)) {
        error(*src.primary_key_node, scope, "primary_key '" + t.primary_key + "' is not unique",
              "add constraint = \"unique\" to it, or name the owner key of a cardinality = \"one\" table");
      }
    }
  }

  void resolve_foreign_key(Field& f, const FieldSource& fs, const Scope& scope) {
    auto text = string_of(fs.foreign_key_node, "foreign_key", scope);
    if (!text) return;
    const toml::node& at = *fs.foreign_key_node;
    const std::size_t dot = text->find('.');
    if (dot == std::string::npos || dot == 0 || dot + 1 == text->size() || text->find('.', dot + 1) != std::string::npos) {
      error(at, scope, "foreign_key '" + *text + "' must be written \"table.field\"", "e.g. foreign_key = \"entities.id\"");
      return;
    }
    const std::string table = text->substr(0, dot);
    const std::string field = text->substr(dot + 1);
    const Table* target = schema_->find_table(table);
    if (target == nullptr) {
      std::vector<std::string> names;
      for (const Table& t : schema_->tables) names.push_back(t.name);
      error(at, scope, "foreign_key '" + *text + "': no table '" + table + "'", did_you_mean(closest(table, names)));
      return;
    }
    if (target->find_field(field) == nullptr) {
      std::vector<std::string> names;
      for (const Field& tf : target->layout.fields) names.push_back(tf.name);
      error(at, scope, "foreign_key '" + *text + "': table '" + table + "' has no field '" + field + "'",
            did_you_mean(closest(field, names)));
      return;
    }
    if (!target->is_entity_table || field != kEntityKey) {
      error(at, scope, "foreign keys may only reference entities.id for now",
            "reference the entity that owns the row you mean: foreign_key = \"entities.id\"");
      return;
    }
    if (!fs.type_ok) return;
    if (f.type.kind == TypeKind::kScalar && f.type.scalar == ScalarKind::kU64) {
      std::string spelling = f.type.spelling;
      f.type = make_entity_ref_type();
      f.type.spelling = std::move(spelling);  // keep "u64" as written
    } else if (f.type.kind != TypeKind::kEntityRef) {
      error(at, scope, "foreign_key requires a u64 or entity field, not " + f.type.spelling,
            "entity ids are 64 bits: use type = \"entity\"");
      return;
    }
    f.foreign_key = ForeignKey{table, field};
  }

  std::string source_;
  std::vector<SchemaDiagnostic>& diagnostics_;
  std::unique_ptr<Schema> schema_;
  std::map<const StructDef*, StructSource> struct_sources_;
  std::vector<const StructDef*> resolving_;   // the struct resolution stack, to name a cycle
  std::vector<TableSource> table_sources_;    // parallel to schema_->tables
};

Status schema_error(const std::vector<SchemaDiagnostic>& diagnostics) {
  std::string message;
  for (const SchemaDiagnostic& d : diagnostics) message += d.to_string() + "\n";
  message += std::to_string(diagnostics.size()) + " error(s)";
  return Status(StatusCode::kSchemaError, std::move(message));
}

}  // namespace

Result<std::shared_ptr<const Schema>> parse_schema(std::string_view toml_text, std::string_view source_name,
                                                   std::vector<SchemaDiagnostic>* diagnostics) {
  std::vector<SchemaDiagnostic> found;
  const std::string source(source_name);
  toml::table root;
  try {
    root = toml::parse(toml_text, source);
  } catch (const toml::parse_error& e) {
    SchemaDiagnostic d;
    d.file = source;
    d.location = location_of(e.source());
    d.message = "TOML syntax error: " + std::string(e.description());
    found.push_back(std::move(d));
  }
  std::unique_ptr<Schema> schema;
  if (found.empty()) {
    SchemaParser parser(source, found);
    schema = parser.run(root);
  }
  // Report in file order whatever order the checks ran in.
  std::stable_sort(found.begin(), found.end(), [](const SchemaDiagnostic& a, const SchemaDiagnostic& b) {
    if (a.location.line != b.location.line) return a.location.line < b.location.line;
    return a.location.column < b.location.column;
  });
  if (diagnostics != nullptr) *diagnostics = found;
  if (!found.empty()) return schema_error(found);
  schema->text = std::string(toml_text);
  return std::shared_ptr<const Schema>(std::move(schema));
}

Result<std::shared_ptr<const Schema>> load_schema_file(const std::filesystem::path& path,
                                                       std::vector<SchemaDiagnostic>* diagnostics) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const std::error_code ec(errno, std::generic_category());
    SchemaDiagnostic d;
    d.file = path.string();
    d.message = "cannot read schema file: " + ec.message();
    if (diagnostics != nullptr) *diagnostics = {d};
    return Status(StatusCode::kIoError, d.to_string());
  }
  std::ostringstream text;
  text << in.rdbuf();
  return parse_schema(text.str(), path.string(), diagnostics);
}

}  // namespace ecsdb
