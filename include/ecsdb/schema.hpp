// ecsdb/schema.hpp — the schema model: what a TOML schema file declares, validated and laid out.
//
// A Schema is an immutable value produced by parse_schema()/load_schema_file(). It owns the tables, their
// fields with the byte layout chosen by ECSDb (fields ordered by alignment, largest first, so each is
// naturally aligned with no interior padding; stride rounded up to the largest alignment), and the enums
// and structs the fields use. The format is documented in docs/schema.md.
//
// Thread-safety: a Schema is immutable after construction and may be shared freely across threads.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ecsdb/status.hpp"

namespace ecsdb {

enum class ScalarKind : std::uint8_t { kU8, kU16, kU32, kU64, kI8, kI16, kI32, kI64, kF32, kF64, kBool };

enum class TypeKind : std::uint8_t {
  kScalar,     // one of ScalarKind
  kArray,      // [T; N], stored inline
  kEnum,       // named variants over an integer ScalarKind
  kStruct,     // user-declared composite type, laid out like a table row
  kString,     // fixed-capacity UTF-8 bytes, zero padded: str<N>
  kEntityRef,  // a 64-bit entity id (foreign key to the entities table)
};

struct StructDef;
struct EnumDef;

// A field's type. Arrays own their element type; enums/structs point into the Schema that owns them.
struct Type {
  TypeKind kind = TypeKind::kScalar;
  ScalarKind scalar = ScalarKind::kU8;      // kScalar; the underlying integer of kEnum; kU64 for kEntityRef
  std::uint32_t size = 0;                   // bytes
  std::uint32_t align = 1;                  // bytes, a power of two
  std::uint32_t length = 0;                 // kArray: element count; kString: capacity in bytes
  std::shared_ptr<const Type> element;      // kArray: the element type
  const EnumDef* enum_def = nullptr;        // kEnum
  const StructDef* struct_def = nullptr;    // kStruct
  std::string spelling;                     // as written in the schema: "f32", "[f32; 3]", "Vec3", "str<16>"
};

std::string_view to_string(ScalarKind kind) noexcept;
std::uint32_t scalar_size(ScalarKind kind) noexcept;
bool is_integer(ScalarKind kind) noexcept;
bool is_signed(ScalarKind kind) noexcept;

// A default value as written in TOML, already checked against the field's type.
struct DefaultValue {
  enum class Kind : std::uint8_t { kInteger, kFloat, kBool, kString } kind = Kind::kInteger;
  std::int64_t integer = 0;   // also the enum variant's value
  double floating = 0;
  bool boolean = false;
  std::string string;         // kString, or the enum variant's name
};

enum class OnDelete : std::uint8_t { kRestrict, kCascade, kSetNull };
std::string_view to_string(OnDelete policy) noexcept;

struct ForeignKey {
  std::string table;   // the referenced table, e.g. "entities"
  std::string field;   // the referenced field, e.g. "id"
};

struct SourceLocation {
  std::uint32_t line = 0;     // 1-based; 0 when unknown
  std::uint32_t column = 0;   // 1-based; 0 when unknown
};

struct Field {
  std::string name;
  Type type;
  std::uint16_t id = 0;            // index in declaration order within its table
  std::uint32_t offset = 0;        // byte offset in the row (meaningless when is_owner_key)
  bool unique = false;             // constraint = "unique"
  bool auto_increment = false;
  bool deprecated = false;
  bool is_owner_key = false;       // the row's key: the owning entity (kept beside the row, not in it)
  bool stored = true;              // false for the owner key and the entities table's id/generation:
                                   // they live in the registry, not in the row bytes
  std::optional<DefaultValue> default_value;
  std::optional<ForeignKey> foreign_key;
  OnDelete on_delete = OnDelete::kRestrict;  // for foreign_key fields
  SourceLocation location;
};

enum class Cardinality : std::uint8_t {
  kOne,   // at most one row per entity: an ECS component
  kMany,  // several rows per entity (inventory items, buffs); rows have their own RowId
};
std::string_view to_string(Cardinality c) noexcept;

// The field layout shared by tables and structs.
struct Layout {
  std::vector<Field> fields;               // declaration order; fields[i].id == i
  std::vector<std::uint16_t> row_order;    // field ids in row byte order (stored fields only)
  std::uint32_t stride = 0;                // bytes per row, a multiple of align (0 for a table with no data)
  std::uint32_t align = 1;                 // largest field alignment

  const Field* find_field(std::string_view name) const noexcept;
};

struct StructDef {
  std::string name;
  Layout layout;
  SourceLocation location;
};

struct EnumDef {
  std::string name;
  ScalarKind underlying = ScalarKind::kU32;
  std::vector<std::pair<std::string, std::int64_t>> variants;  // declaration order
  SourceLocation location;

  const std::pair<std::string, std::int64_t>* find_variant(std::string_view variant) const noexcept;
};

struct Table {
  std::string name;
  std::uint16_t id = 0;                    // index in Schema::tables
  bool is_entity_table = false;            // the registry of entities (named "entities")
  std::string parent_table;                // "" for root tables
  std::string primary_key;                 // entities: "id"
  Cardinality cardinality = Cardinality::kOne;
  Layout layout;
  const Field* owner_key = nullptr;        // the field naming the owning entity (points into layout.fields)
  SourceLocation location;

  const Field* find_field(std::string_view field_name) const noexcept { return layout.find_field(field_name); }
  std::uint32_t stride() const noexcept { return layout.stride; }
};

class Schema {
 public:
  std::string database;                    // [database] name
  std::string version;                     // [database] version, e.g. "1.0.0"
  std::string source;                      // file name the schema came from (for messages)
  std::string text;                        // the TOML text itself (stored in snapshots)
  std::vector<Table> tables;               // declaration order; entities table first when present
  std::vector<std::unique_ptr<EnumDef>> enums;
  std::vector<std::unique_ptr<StructDef>> structs;

  Schema() = default;
  Schema(Schema&&) noexcept;
  Schema& operator=(Schema&&) noexcept;
  Schema(const Schema&) = delete;
  Schema& operator=(const Schema&) = delete;
  ~Schema();

  const Table* find_table(std::string_view name) const noexcept;
  const Table* entity_table() const noexcept;
  const EnumDef* find_enum(std::string_view name) const noexcept;
  const StructDef* find_struct(std::string_view name) const noexcept;
  // Stable 64-bit hash of the layout (names, types, offsets, strides): equal hashes mean byte-compatible.
  std::uint64_t layout_hash() const noexcept;
};

// One problem found in a schema file. `to_string()` gives
// "game.toml:12:5: table 'health', field 'hp': unknown type 'u33' (hint: did you mean 'u32'?)".
struct SchemaDiagnostic {
  std::string file;
  SourceLocation location;
  std::string table;      // "" when not about a table
  std::string type_kind;  // "struct" or "enum" when the problem is in a type definition, else ""
  std::string type_name;  // that struct's or enum's name
  std::string field;      // "" when not about a field (also a struct's field)
  std::string message;
  std::string hint;     // "" when there is none
  std::string to_string() const;
};

// Parses and validates a schema. On failure the Status (kSchemaError) lists every error of the text, one
// per line, and `diagnostics` (when given) receives them structured.
Result<std::shared_ptr<const Schema>> parse_schema(std::string_view toml_text, std::string_view source_name,
                                                   std::vector<SchemaDiagnostic>* diagnostics = nullptr);
Result<std::shared_ptr<const Schema>> load_schema_file(const std::filesystem::path& path,
                                                       std::vector<SchemaDiagnostic>* diagnostics = nullptr);

// C++ header with one struct per table (fields in row order, static_assert on every offset and size) and
// the ECSDB_COMPONENT bindings that register them. See docs/schema.md.
std::string generate_cpp_header(const Schema& schema);

}  // namespace ecsdb
