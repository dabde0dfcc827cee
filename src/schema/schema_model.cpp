// The Schema value: look-ups, names of enum values, and the layout hash.
#include <cstring>

#include "ecsdb/schema.hpp"

namespace ecsdb {

std::string_view to_string(ScalarKind kind) noexcept {
  switch (kind) {
    case ScalarKind::kU8: return "u8";
    case ScalarKind::kU16: return "u16";
    case ScalarKind::kU32: return "u32";
    case ScalarKind::kU64: return "u64";
    case ScalarKind::kI8: return "i8";
    case ScalarKind::kI16: return "i16";
    case ScalarKind::kI32: return "i32";
    case ScalarKind::kI64: return "i64";
    case ScalarKind::kF32: return "f32";
    case ScalarKind::kF64: return "f64";
    case ScalarKind::kBool: return "bool";
  }
  return "?";
}

std::uint32_t scalar_size(ScalarKind kind) noexcept {
  switch (kind) {
    case ScalarKind::kU8:
    case ScalarKind::kI8:
    case ScalarKind::kBool: return 1;
    case ScalarKind::kU16:
    case ScalarKind::kI16: return 2;
    case ScalarKind::kU32:
    case ScalarKind::kI32:
    case ScalarKind::kF32: return 4;
    case ScalarKind::kU64:
    case ScalarKind::kI64:
    case ScalarKind::kF64: return 8;
  }
  return 0;
}

bool is_integer(ScalarKind kind) noexcept {
  return kind != ScalarKind::kF32 && kind != ScalarKind::kF64 && kind != ScalarKind::kBool;
}

bool is_signed(ScalarKind kind) noexcept {
  switch (kind) {
    case ScalarKind::kI8:
    case ScalarKind::kI16:
    case ScalarKind::kI32:
    case ScalarKind::kI64:
    case ScalarKind::kF32:
    case ScalarKind::kF64: return true;
    default: return false;
  }
}

std::string_view to_string(OnDelete policy) noexcept {
  switch (policy) {
    case OnDelete::kRestrict: return "restrict";
    case OnDelete::kCascade: return "cascade";
    case OnDelete::kSetNull: return "set_null";
  }
  return "?";
}

std::string_view to_string(Cardinality c) noexcept {
  return c == Cardinality::kOne ? "one" : "many";
}

const Field* Layout::find_field(std::string_view name) const noexcept {
  for (const Field& f : fields) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

const std::pair<std::string, std::int64_t>* EnumDef::find_variant(std::string_view variant) const noexcept {
  for (const auto& v : variants) {
    if (v.first == variant) return &v;
  }
  return nullptr;
}

Schema::Schema(Schema&&) noexcept = default;
Schema& Schema::operator=(Schema&&) noexcept = default;
Schema::~Schema() = default;

const Table* Schema::find_table(std::string_view name) const noexcept {
  for (const Table& t : tables) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

const Table* Schema::entity_table() const noexcept {
  for (const Table& t : tables) {
    if (t.is_entity_table) return &t;
  }
  return nullptr;
}

const EnumDef* Schema::find_enum(std::string_view name) const noexcept {
  for (const auto& e : enums) {
    if (e->name == name) return e.get();
  }
  return nullptr;
}

const StructDef* Schema::find_struct(std::string_view name) const noexcept {
  for (const auto& s : structs) {
    if (s->name == name) return s.get();
  }
  return nullptr;
}

namespace {

// FNV-1a 64: tiny, stable across platforms and releases, good enough to tell layouts apart (not a MAC).
class Fnv1a {
 public:
  void bytes(const void* data, std::size_t n) noexcept {
    const auto* p = static_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < n; ++i) {
      hash_ ^= p[i];
      hash_ *= 0x100000001b3ULL;
    }
  }
  // Length-prefixed, so ("ab","c") and ("a","bc") differ.
  void text(std::string_view s) noexcept {
    number(s.size());
    bytes(s.data(), s.size());
  }
  // Little-endian whatever the host, so the hash is the same everywhere.
  void number(std::uint64_t v) noexcept {
    unsigned char b[8];
    for (int i = 0; i < 8; ++i) b[i] = static_cast<unsigned char>(v >> (8 * i));
    bytes(b, sizeof b);
  }
  std::uint64_t value() const noexcept { return hash_; }

 private:
  std::uint64_t hash_ = 0xcbf29ce484222325ULL;
};

void hash_layout(Fnv1a& h, const Layout& layout) {
  h.number(layout.stride);
  h.number(layout.align);
  h.number(layout.fields.size());
  for (const Field& f : layout.fields) {
    h.text(f.name);
    h.text(f.type.spelling);
    h.number(static_cast<std::uint64_t>(f.type.kind));
    h.number(f.type.size);
    h.number(f.stored ? f.offset : ~std::uint64_t{0});
  }
}

}  // namespace

std::uint64_t Schema::layout_hash() const noexcept {
  Fnv1a h;
  h.text("ecsdb-layout-v1");
  h.number(tables.size());
  for (const Table& t : tables) {
    h.text(t.name);
    h.number(static_cast<std::uint64_t>(t.cardinality));
    h.number(t.is_entity_table ? 1 : 0);
    hash_layout(h, t.layout);
  }
  h.number(structs.size());
  for (const auto& s : structs) {
    h.text(s->name);
    hash_layout(h, s->layout);
  }
  h.number(enums.size());
  for (const auto& e : enums) {
    h.text(e->name);
    h.text(to_string(e->underlying));
  }
  return h.value();
}

std::string SchemaDiagnostic::to_string() const {
  std::string out = file.empty() ? std::string("<schema>") : file;
  if (location.line != 0) {
    out += ':' + std::to_string(location.line) + ':' + std::to_string(location.column);
  }
  out += ": ";
  if (!table.empty()) {
    out += "table '" + table + "', ";
  }
  if (!type_kind.empty()) {
    out += type_kind + " '" + type_name + "', ";
  }
  if (!field.empty()) {
    out += "field '" + field + "', ";
  }
  if (!table.empty() || !type_kind.empty() || !field.empty()) {
    out.resize(out.size() - 2);
    out += ": ";
  }
  out += message;
  if (!hint.empty()) out += " (hint: " + hint + ")";
  return out;
}

}  // namespace ecsdb
