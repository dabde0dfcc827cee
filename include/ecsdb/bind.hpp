// ecsdb/bind.hpp — binding C++ structs to schema tables, so rows are read by pointer cast, not decoded.
//
//   struct Health { std::uint32_t hp; std::uint32_t max_hp; };
//   ECSDB_COMPONENT(Health, "health", hp, max_hp)        // at global namespace scope
//
// The macro records, for each listed member, its name, offset and C++ type. Database::bind<T>() (or the
// first typed call) compares them with the table's layout: every schema field of the row must be listed,
// at the same offset, with the same size and a compatible type, and sizeof(T) must equal the row stride.
// A mismatch is StatusCode::kBindingMismatch naming the field. `ecsdb codegen` writes such structs, in row
// order, with static_asserts, from a TOML schema. ECSDB_STRUCT binds a composite type used as a field type.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <type_traits>

#include "ecsdb/entity.hpp"
#include "ecsdb/schema.hpp"

namespace ecsdb {

// Fixed-capacity string stored inline (schema type str<N>): UTF-8 bytes, zero padded, not NUL-terminated
// when full.
template <std::size_t N>
struct FixedString {
  char bytes[N] = {};

  FixedString() = default;
  FixedString(std::string_view s) noexcept { assign(s); }  // NOLINT(implicit): truncates to N bytes
  FixedString(const char* s) noexcept { assign(s); }       // NOLINT(implicit)
  void assign(std::string_view s) noexcept {
    const std::size_t n = s.size() < N ? s.size() : N;
    std::memcpy(bytes, s.data(), n);
    std::memset(bytes + n, 0, N - n);
  }
  std::string_view view() const noexcept {
    std::size_t n = 0;
    while (n < N && bytes[n] != '\0') ++n;
    return {bytes, n};
  }
  friend bool operator==(const FixedString& a, const FixedString& b) noexcept {
    return std::memcmp(a.bytes, b.bytes, N) == 0;
  }
};

// What a C++ member type looks like to the binding check.
struct CppType {
  TypeKind kind = TypeKind::kScalar;
  ScalarKind scalar = ScalarKind::kU8;
  std::uint32_t size = 0;
  std::uint32_t align = 1;
  std::uint32_t length = 0;           // arrays and strings
  const CppType* element = nullptr;   // arrays
  std::string_view struct_name;       // structs bound with ECSDB_STRUCT ("" when unbound)
};

struct FieldBinding {
  std::string_view name;
  std::uint32_t offset;
  CppType type;
};

// Specialised by ECSDB_COMPONENT / ECSDB_STRUCT.
template <typename T>
struct ComponentTraits;

template <typename T>
concept BoundComponent = requires {
  { ComponentTraits<T>::table } -> std::convertible_to<std::string_view>;
  { ComponentTraits<T>::fields() } -> std::convertible_to<std::span<const FieldBinding>>;
};

namespace detail {

template <typename T> struct IsStdArray : std::false_type {};
template <typename T, std::size_t N> struct IsStdArray<std::array<T, N>> : std::true_type {};
template <typename T> struct IsFixedString : std::false_type {};
template <std::size_t N> struct IsFixedString<FixedString<N>> : std::true_type {};

template <typename T>
constexpr ScalarKind scalar_kind_of() {
  using U = std::remove_cv_t<T>;
  if constexpr (std::is_same_v<U, bool>) return ScalarKind::kBool;
  else if constexpr (std::is_same_v<U, float>) return ScalarKind::kF32;
  else if constexpr (std::is_same_v<U, double>) return ScalarKind::kF64;
  else if constexpr (std::is_integral_v<U> && std::is_signed_v<U>) {
    if constexpr (sizeof(U) == 1) return ScalarKind::kI8;
    else if constexpr (sizeof(U) == 2) return ScalarKind::kI16;
    else if constexpr (sizeof(U) == 4) return ScalarKind::kI32;
    else return ScalarKind::kI64;
  } else {
    static_assert(std::is_integral_v<U>, "not a scalar type");
    if constexpr (sizeof(U) == 1) return ScalarKind::kU8;
    else if constexpr (sizeof(U) == 2) return ScalarKind::kU16;
    else if constexpr (sizeof(U) == 4) return ScalarKind::kU32;
    else return ScalarKind::kU64;
  }
}

template <typename T>
struct CppTypeOf {
  static constexpr CppType make() {
    using U = std::remove_cv_t<T>;
    CppType t;
    t.size = sizeof(U);
    t.align = alignof(U);
    if constexpr (std::is_same_v<U, Entity> || std::is_same_v<U, RowId>) {
      t.kind = TypeKind::kEntityRef;
      t.scalar = ScalarKind::kU64;
    } else if constexpr (std::is_enum_v<U>) {
      t.kind = TypeKind::kEnum;
      t.scalar = scalar_kind_of<std::underlying_type_t<U>>();
    } else if constexpr (std::is_arithmetic_v<U>) {
      t.kind = TypeKind::kScalar;
      t.scalar = scalar_kind_of<U>();
    } else if constexpr (IsFixedString<U>::value) {
      t.kind = TypeKind::kString;
      t.length = sizeof(U);
    } else if constexpr (std::is_array_v<U>) {
      t.kind = TypeKind::kArray;
      t.length = static_cast<std::uint32_t>(std::extent_v<U>);
      t.element = &CppTypeOf<std::remove_extent_t<U>>::value;
    } else if constexpr (IsStdArray<U>::value) {
      t.kind = TypeKind::kArray;
      t.length = static_cast<std::uint32_t>(std::tuple_size_v<U>);
      t.element = &CppTypeOf<typename U::value_type>::value;
    } else {
      t.kind = TypeKind::kStruct;
      if constexpr (BoundComponent<U>) t.struct_name = ComponentTraits<U>::table;
    }
    return t;
  }
  static constexpr CppType value = make();
};

}  // namespace detail
}  // namespace ecsdb

// Generated by hand-written rule: ECSDB_FOR_EACH(m, ctx, a, b, ...) expands to m(ctx, a) m(ctx, b) ...
#define ECSDB_PP_NARG(...) ECSDB_PP_NARG_(__VA_ARGS__, 64, 63, 62, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47, 46, 45, 44, 43, 42, 41, 40, 39, 38, 37, 36, 35, 34, 33, 32, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1)
#define ECSDB_PP_NARG_(_1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11, _12, _13, _14, _15, _16, _17, _18, _19, _20, _21, _22, _23, _24, _25, _26, _27, _28, _29, _30, _31, _32, _33, _34, _35, _36, _37, _38, _39, _40, _41, _42, _43, _44, _45, _46, _47, _48, _49, _50, _51, _52, _53, _54, _55, _56, _57, _58, _59, _60, _61, _62, _63, _64, n, ...) n
#define ECSDB_FE_1(m, c, x) m(c, x)
#define ECSDB_FE_2(m, c, x, ...) m(c, x) ECSDB_FE_1(m, c, __VA_ARGS__)
#define ECSDB_FE_3(m, c, x, ...) m(c, x) ECSDB_FE_2(m, c, __VA_ARGS__)
#define ECSDB_FE_4(m, c, x, ...) m(c, x) ECSDB_FE_3(m, c, __VA_ARGS__)
#define ECSDB_FE_5(m, c, x, ...) m(c, x) ECSDB_FE_4(m, c, __VA_ARGS__)
#define ECSDB_FE_6(m, c, x, ...) m(c, x) ECSDB_FE_5(m, c, __VA_ARGS__)
#define ECSDB_FE_7(m, c, x, ...) m(c, x) ECSDB_FE_6(m, c, __VA_ARGS__)
#define ECSDB_FE_8(m, c, x, ...) m(c, x) ECSDB_FE_7(m, c, __VA_ARGS__)
#define ECSDB_FE_9(m, c, x, ...) m(c, x) ECSDB_FE_8(m, c, __VA_ARGS__)
#define ECSDB_FE_10(m, c, x, ...) m(c, x) ECSDB_FE_9(m, c, __VA_ARGS__)
#define ECSDB_FE_11(m, c, x, ...) m(c, x) ECSDB_FE_10(m, c, __VA_ARGS__)
#define ECSDB_FE_12(m, c, x, ...) m(c, x) ECSDB_FE_11(m, c, __VA_ARGS__)
#define ECSDB_FE_13(m, c, x, ...) m(c, x) ECSDB_FE_12(m, c, __VA_ARGS__)
#define ECSDB_FE_14(m, c, x, ...) m(c, x) ECSDB_FE_13(m, c, __VA_ARGS__)
#define ECSDB_FE_15(m, c, x, ...) m(c, x) ECSDB_FE_14(m, c, __VA_ARGS__)
#define ECSDB_FE_16(m, c, x, ...) m(c, x) ECSDB_FE_15(m, c, __VA_ARGS__)
#define ECSDB_FE_17(m, c, x, ...) m(c, x) ECSDB_FE_16(m, c, __VA_ARGS__)
#define ECSDB_FE_18(m, c, x, ...) m(c, x) ECSDB_FE_17(m, c, __VA_ARGS__)
#define ECSDB_FE_19(m, c, x, ...) m(c, x) ECSDB_FE_18(m, c, __VA_ARGS__)
#define ECSDB_FE_20(m, c, x, ...) m(c, x) ECSDB_FE_19(m, c, __VA_ARGS__)
#define ECSDB_FE_21(m, c, x, ...) m(c, x) ECSDB_FE_20(m, c, __VA_ARGS__)
#define ECSDB_FE_22(m, c, x, ...) m(c, x) ECSDB_FE_21(m, c, __VA_ARGS__)
#define ECSDB_FE_23(m, c, x, ...) m(c, x) ECSDB_FE_22(m, c, __VA_ARGS__)
#define ECSDB_FE_24(m, c, x, ...) m(c, x) ECSDB_FE_23(m, c, __VA_ARGS__)
#define ECSDB_FE_25(m, c, x, ...) m(c, x) ECSDB_FE_24(m, c, __VA_ARGS__)
#define ECSDB_FE_26(m, c, x, ...) m(c, x) ECSDB_FE_25(m, c, __VA_ARGS__)
#define ECSDB_FE_27(m, c, x, ...) m(c, x) ECSDB_FE_26(m, c, __VA_ARGS__)
#define ECSDB_FE_28(m, c, x, ...) m(c, x) ECSDB_FE_27(m, c, __VA_ARGS__)
#define ECSDB_FE_29(m, c, x, ...) m(c, x) ECSDB_FE_28(m, c, __VA_ARGS__)
#define ECSDB_FE_30(m, c, x, ...) m(c, x) ECSDB_FE_29(m, c, __VA_ARGS__)
#define ECSDB_FE_31(m, c, x, ...) m(c, x) ECSDB_FE_30(m, c, __VA_ARGS__)
#define ECSDB_FE_32(m, c, x, ...) m(c, x) ECSDB_FE_31(m, c, __VA_ARGS__)
#define ECSDB_FE_33(m, c, x, ...) m(c, x) ECSDB_FE_32(m, c, __VA_ARGS__)
#define ECSDB_FE_34(m, c, x, ...) m(c, x) ECSDB_FE_33(m, c, __VA_ARGS__)
#define ECSDB_FE_35(m, c, x, ...) m(c, x) ECSDB_FE_34(m, c, __VA_ARGS__)
#define ECSDB_FE_36(m, c, x, ...) m(c, x) ECSDB_FE_35(m, c, __VA_ARGS__)
#define ECSDB_FE_37(m, c, x, ...) m(c, x) ECSDB_FE_36(m, c, __VA_ARGS__)
#define ECSDB_FE_38(m, c, x, ...) m(c, x) ECSDB_FE_37(m, c, __VA_ARGS__)
#define ECSDB_FE_39(m, c, x, ...) m(c, x) ECSDB_FE_38(m, c, __VA_ARGS__)
#define ECSDB_FE_40(m, c, x, ...) m(c, x) ECSDB_FE_39(m, c, __VA_ARGS__)
#define ECSDB_FE_41(m, c, x, ...) m(c, x) ECSDB_FE_40(m, c, __VA_ARGS__)
#define ECSDB_FE_42(m, c, x, ...) m(c, x) ECSDB_FE_41(m, c, __VA_ARGS__)
#define ECSDB_FE_43(m, c, x, ...) m(c, x) ECSDB_FE_42(m, c, __VA_ARGS__)
#define ECSDB_FE_44(m, c, x, ...) m(c, x) ECSDB_FE_43(m, c, __VA_ARGS__)
#define ECSDB_FE_45(m, c, x, ...) m(c, x) ECSDB_FE_44(m, c, __VA_ARGS__)
#define ECSDB_FE_46(m, c, x, ...) m(c, x) ECSDB_FE_45(m, c, __VA_ARGS__)
#define ECSDB_FE_47(m, c, x, ...) m(c, x) ECSDB_FE_46(m, c, __VA_ARGS__)
#define ECSDB_FE_48(m, c, x, ...) m(c, x) ECSDB_FE_47(m, c, __VA_ARGS__)
#define ECSDB_FE_49(m, c, x, ...) m(c, x) ECSDB_FE_48(m, c, __VA_ARGS__)
#define ECSDB_FE_50(m, c, x, ...) m(c, x) ECSDB_FE_49(m, c, __VA_ARGS__)
#define ECSDB_FE_51(m, c, x, ...) m(c, x) ECSDB_FE_50(m, c, __VA_ARGS__)
#define ECSDB_FE_52(m, c, x, ...) m(c, x) ECSDB_FE_51(m, c, __VA_ARGS__)
#define ECSDB_FE_53(m, c, x, ...) m(c, x) ECSDB_FE_52(m, c, __VA_ARGS__)
#define ECSDB_FE_54(m, c, x, ...) m(c, x) ECSDB_FE_53(m, c, __VA_ARGS__)
#define ECSDB_FE_55(m, c, x, ...) m(c, x) ECSDB_FE_54(m, c, __VA_ARGS__)
#define ECSDB_FE_56(m, c, x, ...) m(c, x) ECSDB_FE_55(m, c, __VA_ARGS__)
#define ECSDB_FE_57(m, c, x, ...) m(c, x) ECSDB_FE_56(m, c, __VA_ARGS__)
#define ECSDB_FE_58(m, c, x, ...) m(c, x) ECSDB_FE_57(m, c, __VA_ARGS__)
#define ECSDB_FE_59(m, c, x, ...) m(c, x) ECSDB_FE_58(m, c, __VA_ARGS__)
#define ECSDB_FE_60(m, c, x, ...) m(c, x) ECSDB_FE_59(m, c, __VA_ARGS__)
#define ECSDB_FE_61(m, c, x, ...) m(c, x) ECSDB_FE_60(m, c, __VA_ARGS__)
#define ECSDB_FE_62(m, c, x, ...) m(c, x) ECSDB_FE_61(m, c, __VA_ARGS__)
#define ECSDB_FE_63(m, c, x, ...) m(c, x) ECSDB_FE_62(m, c, __VA_ARGS__)
#define ECSDB_FE_64(m, c, x, ...) m(c, x) ECSDB_FE_63(m, c, __VA_ARGS__)
#define ECSDB_FOR_EACH(m, c, ...) ECSDB_CONCAT(ECSDB_FE_, ECSDB_PP_NARG(__VA_ARGS__))(m, c, __VA_ARGS__)

#define ECSDB_FIELD_BINDING(Type, member)                                                    \
  ::ecsdb::FieldBinding{#member, static_cast<std::uint32_t>(offsetof(Type, member)),         \
                        ::ecsdb::detail::CppTypeOf<decltype(Type::member)>::value},

// Binds `Type` to the schema table `table_name`, listing the members that hold its fields.
// Use at global namespace scope. Type must be standard-layout and trivially copyable.
#define ECSDB_COMPONENT(Type, table_name, ...)                                                      \
  template <>                                                                                        \
  struct ecsdb::ComponentTraits<Type> {                                                             \
    static_assert(std::is_standard_layout_v<Type> && std::is_trivially_copyable_v<Type>,            \
                  #Type " must be standard-layout and trivially copyable to be cast from a row");  \
    static constexpr std::string_view table = table_name;                                           \
    static std::span<const ::ecsdb::FieldBinding> fields() {                                        \
      static const ::ecsdb::FieldBinding kFields[] = {                                              \
          ECSDB_FOR_EACH(ECSDB_FIELD_BINDING, Type, __VA_ARGS__)};                                  \
      return kFields;                                                                               \
    }                                                                                               \
  };

// Binds a composite type declared in the schema's [structs.NAME] section.
#define ECSDB_STRUCT(Type, struct_name, ...) ECSDB_COMPONENT(Type, struct_name, __VA_ARGS__)
