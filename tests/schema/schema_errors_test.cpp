// One test per schema error: the message, the hint and the position (line:column) it is reported at.
// docs/schema.md lists the same errors; keep the two in step.
#include <gtest/gtest.h>

#include <algorithm>
#include <ostream>
#include <string>
#include <vector>

#include "ecsdb/schema.hpp"
#include "schema/schema_test_util.hpp"

namespace ecsdb {
namespace {

using testing::parse_errors;
using testing::with_database;

struct ErrorCase {
  const char* name;
  std::string text;     // the whole file
  std::uint32_t line;
  std::uint32_t column;
  const char* message;  // a substring of the message
  const char* hint;     // a substring of the hint; "" = not checked
};

// Names the case in gtest and ctest output instead of dumping its bytes.
void PrintTo(const ErrorCase& c, std::ostream* os) { *os << c.name; }

// Body lines start at line 4 (with_database adds 3).
std::vector<ErrorCase> error_cases() {
  const std::string root_field_prefix = "[tables.t]\ncardinality = \"many\"\n[[tables.t.fields]]\nname = \"a\"\n";
  auto root_field = [&](const std::string& lines) { return with_database(root_field_prefix + lines); };
  // A component table whose field 'a' starts at line 9; its options start at line 11.
  auto component_field = [](const std::string& lines) {
    return with_database(
        "[tables.t]\nparent_table = \"entities\"\n[[tables.t.fields]]\nname = \"entity_id\"\ntype = \"entity\"\n"
        "[[tables.t.fields]]\nname = \"a\"\n" + lines);
  };
  const std::string entities_id = "[tables.entities]\n[[tables.entities.fields]]\nname = \"id\"\ntype = \"u64\"\n";
  return {
      // ---- TOML and keys ----
      {"syntax_error_duplicate_table",
       with_database("[tables.t]\ncardinality = \"many\"\n[tables.t]\n"), 6, 1, "TOML syntax error", ""},
      {"unknown_root_key", with_database("[tabels.t]\ncardinality = \"many\"\n"), 4, 2, "unknown key 'tabels'",
       "did you mean 'tables'?"},
      {"unknown_database_key", with_database("versoin = \"2\"\n"), 4, 1, "unknown key 'versoin'",
       "did you mean 'version'?"},
      {"unknown_table_key", with_database("[tables.t]\nparent_tabel = \"entities\"\n"), 5, 1,
       "unknown key 'parent_tabel'", "did you mean 'parent_table'?"},
      {"unknown_field_key", root_field("type = \"u8\"\nconstrant = \"unique\"\n"), 9, 1, "unknown key 'constrant'",
       "did you mean 'constraint'?"},
      {"unknown_enum_key", with_database("[enums.E]\nvariants = [\"a\"]\ntyp = \"u8\"\n"), 6, 1, "unknown key 'typ'",
       "did you mean 'type'?"},
      {"unknown_variant_key", with_database("[enums.E]\nvariants = [{ name = \"a\", valeu = 1 }]\n"), 5, 27,
       "unknown key 'valeu'", "did you mean 'value'?"},
      {"unknown_struct_key", with_database("[structs.S]\nfeilds = 1\n[[structs.S.fields]]\nname = \"x\"\ntype = \"u8\"\n"),
       5, 1, "unknown key 'feilds'", "did you mean 'fields'?"},
      {"struct_field_option_not_allowed",
       with_database("[structs.S]\n[[structs.S.fields]]\nname = \"x\"\ntype = \"u8\"\nconstraint = \"unique\"\n"), 8, 1,
       "'constraint' is not allowed in a struct field", "'name', 'type', 'default'"},
      {"missing_database", "[tables.t]\ncardinality = \"many\"\n", 1, 1, "missing required section [database]", ""},
      {"missing_database_version", "[database]\nname = \"db\"\n", 1, 1, "missing required key 'version'", ""},
      {"database_version_not_string", "[database]\nname = \"db\"\nversion = 1\n", 3, 11,
       "'version' must be a string, not integer", ""},
      {"tables_not_a_table", "tables = 3\n" + with_database(""), 1, 10, "'tables' must be a table", ""},
      {"fields_not_an_array", with_database("[tables.t]\ncardinality = \"many\"\nfields = 3\n"), 6, 10,
       "'fields' must be an array of tables", ""},
      {"field_entry_not_a_table", with_database("[tables.t]\ncardinality = \"many\"\nfields = [\"a\"]\n"), 6, 11,
       "each entry of 'fields' must be a table", ""},

      // ---- names ----
      {"duplicate_field", root_field("type = \"u8\"\n[[tables.t.fields]]\nname = \"a\"\ntype = \"u16\"\n"), 10, 8,
       "duplicate field 'a'", ""},
      {"missing_type", root_field(""), 6, 1, "missing required key 'type'", ""},
      {"missing_name", with_database("[tables.t]\ncardinality = \"many\"\n[[tables.t.fields]]\ntype = \"u8\"\n"), 6, 1,
       "missing required key 'name'", ""},
      {"field_name_not_identifier",
       with_database("[tables.t]\ncardinality = \"many\"\n[[tables.t.fields]]\nname = \"hit points\"\ntype = \"u8\"\n"), 7,
       8, "field name 'hit points' is not an identifier", "C++ member name"},
      {"field_name_cpp_keyword",
       with_database("[tables.t]\ncardinality = \"many\"\n[[tables.t.fields]]\nname = \"class\"\ntype = \"u8\"\n"), 7, 8,
       "is a C++ keyword", "class_"},
      {"table_name_not_identifier", with_database("[tables.\"my-table\"]\ncardinality = \"many\"\n"), 4, 1,
       "table name 'my-table' is not an identifier", ""},
      {"enum_struct_name_clash",
       with_database("[enums.P]\nvariants = [\"a\"]\n[structs.P]\n[[structs.P.fields]]\nname = \"x\"\ntype = \"u8\"\n"), 6,
       1, "'P' is declared both as an enum and as a struct", ""},
      {"reserved_type_name", with_database("[structs.u8]\n[[structs.u8.fields]]\nname = \"x\"\ntype = \"u8\"\n"), 4, 1,
       "'u8' is a reserved name", ""},
      {"generated_type_name_clash",
       with_database("[structs.Pos]\n[[structs.Pos.fields]]\nname = \"x\"\ntype = \"f32\"\n"
                     "[tables.pos]\ncardinality = \"many\"\n"),
       8, 1, "generates the C++ type 'Pos', already used by struct 'Pos'", ""},

      // ---- the entities table ----
      {"entities_extra_field", with_database(entities_id + "[[tables.entities.fields]]\nname = \"hp\"\ntype = \"u32\"\n"),
       8, 1, "the entities table may only hold", "put entity data in a component table with parent_table = \"entities\""},
      {"entities_id_not_u64",
       with_database("[tables.entities]\n[[tables.entities.fields]]\nname = \"id\"\ntype = \"u32\"\n"), 5, 1,
       "'id' must be u64", ""},
      {"entities_missing_id",
       with_database("[tables.entities]\n[[tables.entities.fields]]\nname = \"version\"\ntype = \"u32\"\n"
                     "auto_increment = true\n"),
       4, 1, "needs an 'id' field", ""},
      {"entities_parent_table", with_database("[tables.entities]\nparent_table = \"entities\"\n[[tables.entities.fields]]\nname = \"id\"\ntype = \"u64\"\n"), 5, 16,
       "cannot have a parent_table", ""},
      {"entities_cardinality", with_database("[tables.entities]\ncardinality = \"many\"\n[[tables.entities.fields]]\nname = \"id\"\ntype = \"u64\"\n"), 5, 15,
       "has no cardinality", ""},
      {"entities_primary_key", with_database("[tables.entities]\nprimary_key = \"version\"\n[[tables.entities.fields]]\nname = \"id\"\ntype = \"u64\"\n"), 5, 15,
       "primary key must be 'id'", ""},
      {"entities_foreign_key", with_database(entities_id + "foreign_key = \"entities.id\"\n"), 8, 15,
       "'foreign_key' is not allowed in the entities table", ""},

      // ---- parents and cardinality ----
      {"parent_table_not_entities",
       with_database("[tables.a]\ncardinality = \"many\"\n[tables.b]\nparent_table = \"a\"\n"), 7, 16,
       "only the entities table may be a parent", "parent_table = \"entities\""},
      {"parent_table_unknown", with_database("[tables.t]\nparent_table = \"entitys\"\n"), 5, 16,
       "parent_table 'entitys' is not a table", "did you mean 'entities'?"},
      {"parent_table_empty", with_database("[tables.t]\nparent_table = \"\"\n"), 5, 16, "parent_table is empty", ""},
      {"root_table_cardinality_one", with_database("[tables.t]\ncardinality = \"one\"\n"), 5, 15,
       "must have cardinality \"many\"", "parent_table = \"entities\""},
      {"cardinality_unknown", with_database("[tables.t]\ncardinality = \"mani\"\n"), 5, 15,
       "cardinality must be \"one\" or \"many\"", "did you mean 'many'?"},

      // ---- types ----
      {"unknown_type", root_field("type = \"u33\"\n"), 8, 8, "unknown type 'u33'", "did you mean 'u32'?"},
      {"unknown_type_string", root_field("type = \"string\"\n"), 8, 8, "unknown type 'string'", "str<N>"},
      {"array_length_zero", root_field("type = \"[f32; 0]\"\n"), 8, 8, "array length 0", ""},
      {"array_malformed", root_field("type = \"[f32, 3]\"\n"), 8, 8, "malformed array type '[f32, 3]'", "[T; N]"},
      {"array_length_not_a_number", root_field("type = \"[f32; x]\"\n"), 8, 8, "array length 'x' is not a whole number",
       ""},
      {"string_length_zero", root_field("type = \"str<0>\"\n"), 8, 8, "string length 0", ""},
      {"type_too_large", root_field("type = \"[[u64; 4096]; 4096]\"\n"), 8, 8, "is too large", "at most"},
      {"type_not_a_string", root_field("type = 3\n"), 8, 8, "'type' must be a string, not integer", ""},

      // ---- enums ----
      {"enum_type_not_integer", with_database("[enums.E]\ntype = \"f32\"\nvariants = [\"a\"]\n"), 5, 8,
       "enum type must be an integer type, not 'f32'", ""},
      {"enum_value_out_of_range", with_database("[enums.E]\ntype = \"u8\"\nvariants = [{ name = \"a\", value = 256 }]\n"),
       6, 35, "value 256 does not fit the enum's type u8", ""},
      {"enum_successor_out_of_range",
       with_database("[enums.E]\ntype = \"i64\"\nvariants = [\n  { name = \"a\", value = 9223372036854775807 },\n"
                     "  \"b\",\n]\n"),
       8, 3, "value 9223372036854775808 does not fit", ""},
      {"enum_duplicate_variant", with_database("[enums.E]\nvariants = [\"a\", \"b\", \"a\"]\n"), 5, 23,
       "duplicate variant 'a'", ""},
      {"enum_no_variants", with_database("[enums.E]\nvariants = []\n"), 5, 12, "enum has no variants", ""},
      {"enum_missing_variants", with_database("[enums.E]\ntype = \"u8\"\n"), 4, 1, "missing required key 'variants'", ""},
      {"enum_variant_not_identifier", with_database("[enums.E]\nvariants = [\"class\"]\n"), 5, 13,
       "variant name 'class' is not a usable identifier", ""},
      {"enum_variant_value_not_integer", with_database("[enums.E]\nvariants = [{ name = \"a\", value = \"1\" }]\n"), 5,
       35, "variant value must be an integer", ""},
      {"enum_variant_wrong_kind", with_database("[enums.E]\nvariants = [1]\n"), 5, 13,
       "each variant must be a string or", ""},

      // ---- structs ----
      {"recursive_struct_direct", with_database("[structs.Node]\n[[structs.Node.fields]]\nname = \"next\"\ntype = \"Node\"\n"),
       7, 8, "recursive struct: Node -> Node", ""},
      {"recursive_struct_indirect",
       with_database("[structs.A]\n[[structs.A.fields]]\nname = \"b\"\ntype = \"B\"\n"
                     "[structs.B]\n[[structs.B.fields]]\nname = \"a\"\ntype = \"[A; 2]\"\n"),
       11, 8, "recursive struct: A -> B -> A", ""},
      {"struct_no_fields", with_database("[structs.S]\n"), 4, 1, "struct has no fields", ""},

      // ---- foreign keys and on_delete ----
      {"foreign_key_malformed", component_field("type = \"u64\"\nforeign_key = \"entities\"\n"), 12, 15,
       "must be written \"table.field\"", ""},
      {"foreign_key_unknown_table", component_field("type = \"u64\"\nforeign_key = \"entitis.id\"\n"), 12, 15,
       "no table 'entitis'", "did you mean 'entities'?"},
      {"foreign_key_unknown_field", component_field("type = \"u64\"\nforeign_key = \"entities.idd\"\n"), 12, 15,
       "table 'entities' has no field 'idd'", "did you mean 'id'?"},
      {"foreign_key_not_entities",
       with_database("[tables.a]\ncardinality = \"many\"\n[[tables.a.fields]]\nname = \"k\"\ntype = \"u64\"\n"
                     "constraint = \"unique\"\n[tables.b]\ncardinality = \"many\"\n[[tables.b.fields]]\nname = \"r\"\n"
                     "type = \"u64\"\nforeign_key = \"a.k\"\n"),
       15, 15, "foreign keys may only reference entities.id for now", ""},
      {"foreign_key_wrong_type", component_field("type = \"u32\"\nforeign_key = \"entities.id\"\n"), 12, 15,
       "foreign_key requires a u64 or entity field, not u32", "type = \"entity\""},
      {"on_delete_without_foreign_key", component_field("type = \"u64\"\non_delete = \"cascade\"\n"), 12, 13,
       "on_delete requires a foreign_key", ""},
      {"on_delete_unknown", component_field("type = \"entity\"\non_delete = \"cascad\"\n"), 12, 13,
       "unknown on_delete policy 'cascad'", "did you mean 'cascade'?"},
      {"owner_key_set_null",
       with_database("[tables.t]\nparent_table = \"entities\"\n[[tables.t.fields]]\nname = \"entity_id\"\n"
                     "type = \"entity\"\non_delete = \"set_null\"\n"),
       9, 13, "not allowed on the owner key", ""},
      {"auto_increment_on_foreign_key",
       component_field("type = \"u64\"\nforeign_key = \"entities.id\"\nauto_increment = true\n"), 13, 18,
       "auto_increment is not allowed on a foreign key", ""},

      // ---- constraints and options ----
      {"unique_on_array", root_field("type = \"[u8; 4]\"\nconstraint = \"unique\"\n"), 9, 14,
       "unique is not supported for array fields", ""},
      {"unique_on_struct",
       with_database("[structs.S]\n[[structs.S.fields]]\nname = \"x\"\ntype = \"u8\"\n") +
           "[tables.t]\ncardinality = \"many\"\n[[tables.t.fields]]\nname = \"a\"\ntype = \"S\"\nconstraint = \"unique\"\n",
       13, 14, "unique is not supported for struct fields", ""},
      {"unknown_constraint", root_field("type = \"u8\"\nconstraint = \"uniqe\"\n"), 9, 14, "unknown constraint 'uniqe'",
       "did you mean 'unique'?"},
      {"auto_increment_not_integer", root_field("type = \"f32\"\nauto_increment = true\n"), 9, 18,
       "auto_increment requires an integer field, not f32", ""},
      {"auto_increment_not_bool", root_field("type = \"u32\"\nauto_increment = \"yes\"\n"), 9, 18,
       "'auto_increment' must be true or false, not string", ""},
      {"deprecated_not_bool", root_field("type = \"u32\"\ndeprecated = 1\n"), 9, 14,
       "'deprecated' must be true or false, not integer", ""},
      {"primary_key_not_a_field",
       with_database("[tables.t]\ncardinality = \"many\"\nprimary_key = \"nme\"\n[[tables.t.fields]]\nname = \"name\"\n"
                     "type = \"str<8>\"\nconstraint = \"unique\"\n"),
       6, 15, "primary_key 'nme' is not a field of the table", "did you mean 'name'?"},
      {"primary_key_not_unique",
       with_database("[tables.t]\ncardinality = \"many\"\nprimary_key = \"name\"\n[[tables.t.fields]]\nname = \"name\"\n"
                     "type = \"str<8>\"\n"),
       6, 15, "primary_key 'name' is not unique", "constraint = \"unique\""},

      // ---- defaults ----
      {"default_out_of_range", root_field("type = \"u8\"\ndefault = 300\n"), 9, 11, "default 300 is out of range for u8",
       ""},
      {"default_negative_unsigned", root_field("type = \"u32\"\ndefault = -1\n"), 9, 11,
       "default -1 is out of range for u32", ""},
      {"default_wrong_toml_type", root_field("type = \"u32\"\ndefault = \"x\"\n"), 9, 11,
       "default for a u32 field must be an integer, not string", ""},
      {"default_bool_wrong_type", root_field("type = \"bool\"\ndefault = 1\n"), 9, 11,
       "default for a bool field must be true or false", ""},
      {"default_f32_out_of_range", root_field("type = \"f32\"\ndefault = 1e300\n"), 9, 11, "out of range for f32", ""},
      {"default_string_too_long", root_field("type = \"str<4>\"\ndefault = \"hello\"\n"), 9, 11,
       "is 5 bytes, longer than str<4>", ""},
      {"default_enum_unknown_variant",
       with_database("[enums.Color]\nvariants = [\"red\", \"green\"]\n") +
           "[tables.t]\ncardinality = \"many\"\n[[tables.t.fields]]\nname = \"a\"\ntype = \"Color\"\ndefault = \"gren\"\n",
       11, 11, "enum 'Color' has no variant 'gren'", "did you mean 'green'?"},
      {"default_enum_unknown_value",
       with_database("[enums.Color]\nvariants = [\"red\", \"green\"]\n") +
           "[tables.t]\ncardinality = \"many\"\n[[tables.t.fields]]\nname = \"a\"\ntype = \"Color\"\ndefault = 7\n",
       11, 11, "enum 'Color' has no variant with value 7", ""},
      {"default_array", root_field("type = \"[u8; 2]\"\ndefault = [1, 2]\n"), 9, 11,
       "default is not supported for array fields", ""},
      {"default_struct",
       with_database("[structs.S]\n[[structs.S.fields]]\nname = \"x\"\ntype = \"u8\"\n") +
           "[tables.t]\ncardinality = \"many\"\n[[tables.t.fields]]\nname = \"a\"\ntype = \"S\"\ndefault = 1\n",
       13, 11, "default is not supported for struct fields", ""},
      {"default_entity", component_field("type = \"entity\"\ndefault = 0\n"), 12, 11,
       "default is not supported for entity reference fields", ""},
  };
}

class SchemaErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(SchemaErrorTest, ReportsMessageHintAndPosition) {
  const ErrorCase& c = GetParam();
  const std::vector<SchemaDiagnostic> errors = parse_errors(c.text);
  ASSERT_EQ(errors.size(), 1u) << [&] {
    std::string all;
    for (const auto& e : errors) all += e.to_string() + "\n";
    return all;
  }();
  const SchemaDiagnostic& e = errors[0];
  EXPECT_NE(e.message.find(c.message), std::string::npos) << e.to_string();
  if (*c.hint != '\0') {
    EXPECT_NE(e.hint.find(c.hint), std::string::npos) << e.to_string();
  }
  EXPECT_EQ(e.location.line, c.line) << e.to_string();
  EXPECT_EQ(e.location.column, c.column) << e.to_string();
  EXPECT_EQ(e.file, "test.toml");
}

INSTANTIATE_TEST_SUITE_P(EveryError, SchemaErrorTest, ::testing::ValuesIn(error_cases()),
                         [](const ::testing::TestParamInfo<ErrorCase>& param_info) { return std::string(param_info.param.name); });

TEST(SchemaErrors, AllErrorsOfAFileAreReportedAtOnce) {
  const std::string text = with_database(
      "[tables.t]\n"                    // 4
      "parent_table = \"entities\"\n"   // 5
      "colour = 1\n"                    // 6  unknown key
      "[[tables.t.fields]]\n"           // 7
      "name = \"a\"\n"                  // 8
      "type = \"u33\"\n"                // 9  unknown type
      "[[tables.t.fields]]\n"           // 10
      "name = \"b\"\n"                  // 11
      "type = \"[f32; 0]\"\n"           // 12 array length 0
      "[[tables.t.fields]]\n"           // 13
      "name = \"a\"\n"                  // 14 duplicate
      "type = \"u8\"\n"                 // 15
      "default = 999\n");               // 16 out of range
  std::vector<SchemaDiagnostic> errors;
  auto result = parse_schema(text, "multi.toml", &errors);
  ASSERT_FALSE(result.has_value());
  ASSERT_EQ(errors.size(), 5u) << result.status().message();
  // Sorted by position.
  EXPECT_EQ(errors[0].location.line, 6u);
  EXPECT_EQ(errors[1].location.line, 9u);
  EXPECT_EQ(errors[2].location.line, 12u);
  EXPECT_EQ(errors[3].location.line, 14u);
  EXPECT_EQ(errors[4].location.line, 16u);
  EXPECT_EQ(errors[1].table, "t");
  EXPECT_EQ(errors[1].field, "a");
  // The Status lists them all, one per line, then the count.
  const std::string message = result.status().message();
  EXPECT_EQ(result.status().code(), StatusCode::kSchemaError);
  EXPECT_NE(message.find("multi.toml:6:1: table 't': unknown key 'colour'"), std::string::npos) << message;
  EXPECT_NE(message.find("multi.toml:9:8: table 't', field 'a': unknown type 'u33' (hint: did you mean 'u32'?)"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("\n5 error(s)"), std::string::npos) << message;
  EXPECT_EQ(std::count(message.begin(), message.end(), '\n'), 5);
}

TEST(SchemaErrors, ErrorsInStructsNameTheStruct) {
  const auto errors = parse_errors(with_database("[structs.Vec3]\n[[structs.Vec3.fields]]\nname = \"x\"\ntype = \"f33\"\n"));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].type_kind, "struct");
  EXPECT_EQ(errors[0].type_name, "Vec3");
  EXPECT_EQ(errors[0].field, "x");
  EXPECT_EQ(errors[0].to_string(),
            "test.toml:7:8: struct 'Vec3', field 'x': unknown type 'f33' (hint: did you mean 'f32'?)");
}

TEST(SchemaErrors, DiagnosticFormatWithoutPositionOrScope) {
  SchemaDiagnostic d;
  d.file = "x.toml";
  d.message = "boom";
  EXPECT_EQ(d.to_string(), "x.toml: boom");
  d.location = {3, 7};
  d.table = "t";
  d.hint = "fix it";
  EXPECT_EQ(d.to_string(), "x.toml:3:7: table 't': boom (hint: fix it)");
}

TEST(SchemaErrors, MissingFileIsAnIoError) {
  std::vector<SchemaDiagnostic> errors;
  auto result = load_schema_file("/nonexistent/dir/schema.toml", &errors);
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.status().code(), StatusCode::kIoError);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].message.find("cannot read schema file"), std::string::npos);
  EXPECT_NE(result.status().message().find("/nonexistent/dir/schema.toml"), std::string::npos);
}

TEST(SchemaErrors, ErrorsInAFailedStructAreNotRepeatedWhereItIsUsed) {
  // The struct's own error is reported once; the table using it does not add "unknown type 'S'".
  const auto errors = parse_errors(with_database(
      "[structs.S]\n[[structs.S.fields]]\nname = \"x\"\ntype = \"nope\"\n"
      "[tables.t]\ncardinality = \"many\"\n[[tables.t.fields]]\nname = \"s\"\ntype = \"S\"\n"));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].message.find("unknown type 'nope'"), std::string::npos);
}

}  // namespace
}  // namespace ecsdb
