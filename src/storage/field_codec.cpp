#include "storage/field_codec.hpp"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>

namespace ecsdb::storage {

namespace {

template <typename T>
void put(std::byte* out, T v) { std::memcpy(out, &v, sizeof v); }
template <typename T>
T get(const std::byte* in) { T v; std::memcpy(&v, in, sizeof v); return v; }

std::string kind_name(Value::Kind k) {
  switch (k) {
    case Value::Kind::kNull: return "null";
    case Value::Kind::kBool: return "a bool";
    case Value::Kind::kInt: case Value::Kind::kUInt: return "an integer";
    case Value::Kind::kFloat: return "a float";
    case Value::Kind::kString: return "a string";
    case Value::Kind::kEntity: return "an entity";
    case Value::Kind::kArray: return "an array";
    case Value::Kind::kStruct: return "a struct";
  }
  return "?";
}

Status type_error(std::string_view where, const Type& type, const Value& v) {
  return invalid_argument(std::string(where) + ": expected a value of type " + type.spelling + ", got " +
                          kind_name(v.kind) + " (" + v.to_string() + ")");
}

// Integer value of v as a signed 128-bit-safe pair; false when v is not integral.
bool as_integer(const Value& v, long double& out) {
  if (v.kind == Value::Kind::kInt) { out = static_cast<long double>(v.integer); return true; }
  if (v.kind == Value::Kind::kUInt) { out = static_cast<long double>(v.uinteger); return true; }
  if (v.kind == Value::Kind::kFloat && std::floor(v.floating) == v.floating) { out = v.floating; return true; }
  return false;
}

Status encode_integer(ScalarKind k, long double x, std::byte* out, std::string_view where, const Type& type) {
  long double lo = 0, hi = 0;
  switch (k) {
    case ScalarKind::kU8: hi = 255; break;
    case ScalarKind::kU16: hi = 65535; break;
    case ScalarKind::kU32: hi = 4294967295.0L; break;
    case ScalarKind::kU64: hi = 0x1p64L - 1; break;
    case ScalarKind::kI8: lo = -128; hi = 127; break;
    case ScalarKind::kI16: lo = -32768; hi = 32767; break;
    case ScalarKind::kI32: lo = -2147483648.0L; hi = 2147483647.0L; break;
    case ScalarKind::kI64: lo = -9223372036854775808.0L; hi = 9223372036854775807.0L; break;
    default: break;
  }
  if (x < lo || x > hi) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.0Lf", x);
    return invalid_argument(std::string(where) + ": value " + buf + " is out of range of " + type.spelling);
  }
  switch (k) {
    case ScalarKind::kU8: put(out, static_cast<std::uint8_t>(x)); break;
    case ScalarKind::kU16: put(out, static_cast<std::uint16_t>(x)); break;
    case ScalarKind::kU32: put(out, static_cast<std::uint32_t>(x)); break;
    case ScalarKind::kU64: put(out, static_cast<std::uint64_t>(x)); break;
    case ScalarKind::kI8: put(out, static_cast<std::int8_t>(x)); break;
    case ScalarKind::kI16: put(out, static_cast<std::int16_t>(x)); break;
    case ScalarKind::kI32: put(out, static_cast<std::int32_t>(x)); break;
    case ScalarKind::kI64: put(out, static_cast<std::int64_t>(x)); break;
    default: break;
  }
  return Status::ok();
}

Value decode_integer(ScalarKind k, const std::byte* in) {
  switch (k) {
    case ScalarKind::kU8: return Value::from_uint(get<std::uint8_t>(in));
    case ScalarKind::kU16: return Value::from_uint(get<std::uint16_t>(in));
    case ScalarKind::kU32: return Value::from_uint(get<std::uint32_t>(in));
    case ScalarKind::kU64: return Value::from_uint(get<std::uint64_t>(in));
    case ScalarKind::kI8: return Value::from_int(get<std::int8_t>(in));
    case ScalarKind::kI16: return Value::from_int(get<std::int16_t>(in));
    case ScalarKind::kI32: return Value::from_int(get<std::int32_t>(in));
    case ScalarKind::kI64: return Value::from_int(get<std::int64_t>(in));
    default: return Value::null();
  }
}

}  // namespace

Status encode_value(const Type& type, const Value& value, std::byte* out, std::string_view where) {
  switch (type.kind) {
    case TypeKind::kScalar: {
      if (type.scalar == ScalarKind::kBool) {
        if (value.kind != Value::Kind::kBool) return type_error(where, type, value);
        put<std::uint8_t>(out, value.boolean ? 1 : 0);
        return Status::ok();
      }
      if (type.scalar == ScalarKind::kF32 || type.scalar == ScalarKind::kF64) {
        double d;
        if (value.kind == Value::Kind::kFloat) d = value.floating;
        else if (value.kind == Value::Kind::kInt) d = static_cast<double>(value.integer);
        else if (value.kind == Value::Kind::kUInt) d = static_cast<double>(value.uinteger);
        else return type_error(where, type, value);
        if (type.scalar == ScalarKind::kF32) put(out, static_cast<float>(d));
        else put(out, d);
        return Status::ok();
      }
      long double x;
      if (!as_integer(value, x)) return type_error(where, type, value);
      return encode_integer(type.scalar, x, out, where, type);
    }
    case TypeKind::kEnum: {
      long double x;
      if (value.kind == Value::Kind::kString) {
        const auto* variant = type.enum_def->find_variant(value.string);
        if (variant == nullptr) {
          std::string names;
          for (const auto& [n, v] : type.enum_def->variants) names += (names.empty() ? "" : ", ") + n;
          return invalid_argument(std::string(where) + ": '" + value.string + "' is not a variant of enum " +
                                  type.enum_def->name + " (variants: " + names + ")");
        }
        x = static_cast<long double>(variant->second);
      } else if (!as_integer(value, x)) {
        return type_error(where, type, value);
      }
      return encode_integer(type.scalar, x, out, where, type);
    }
    case TypeKind::kEntityRef: {
      std::uint64_t bits;
      if (value.kind == Value::Kind::kEntity) bits = value.entity.bits();
      else if (value.kind == Value::Kind::kUInt) bits = value.uinteger;
      else if (value.kind == Value::Kind::kInt && value.integer >= 0) bits = static_cast<std::uint64_t>(value.integer);
      else if (value.kind == Value::Kind::kNull) bits = 0;
      else return type_error(where, type, value);
      put(out, bits);
      return Status::ok();
    }
    case TypeKind::kString: {
      if (value.kind != Value::Kind::kString) return type_error(where, type, value);
      if (value.string.size() > type.length) {
        return invalid_argument(std::string(where) + ": string of " + std::to_string(value.string.size()) +
                                " bytes does not fit " + type.spelling);
      }
      std::memset(out, 0, type.length);
      std::memcpy(out, value.string.data(), value.string.size());
      return Status::ok();
    }
    case TypeKind::kArray: {
      if (value.kind != Value::Kind::kArray) return type_error(where, type, value);
      if (value.elements.size() != type.length) {
        return invalid_argument(std::string(where) + ": expected " + std::to_string(type.length) +
                                " elements for " + type.spelling + ", got " + std::to_string(value.elements.size()));
      }
      for (std::uint32_t i = 0; i < type.length; ++i) {
        ECSDB_RETURN_IF_ERROR(encode_value(*type.element, value.elements[i], out + std::size_t{i} * type.element->size,
                                           std::string(where) + "[" + std::to_string(i) + "]"));
      }
      return Status::ok();
    }
    case TypeKind::kStruct: {
      if (value.kind != Value::Kind::kStruct) return type_error(where, type, value);
      const Layout& layout = type.struct_def->layout;
      for (const auto& [name, v] : value.fields) {
        const Field* f = layout.find_field(name);
        if (f == nullptr) {
          return invalid_argument(std::string(where) + ": struct " + type.struct_def->name + " has no field '" +
                                  name + "'");
        }
        ECSDB_RETURN_IF_ERROR(encode_value(f->type, v, out + f->offset, std::string(where) + "." + name));
      }
      return Status::ok();
    }
  }
  return invalid_argument(std::string(where) + ": unsupported type");
}

Value decode_value(const Type& type, const std::byte* in) {
  switch (type.kind) {
    case TypeKind::kScalar:
      if (type.scalar == ScalarKind::kBool) return Value::from_bool(get<std::uint8_t>(in) != 0);
      if (type.scalar == ScalarKind::kF32) return Value::from_float(get<float>(in));
      if (type.scalar == ScalarKind::kF64) return Value::from_float(get<double>(in));
      return decode_integer(type.scalar, in);
    case TypeKind::kEnum: {
      Value raw = decode_integer(type.scalar, in);
      const std::int64_t x = raw.kind == Value::Kind::kInt ? raw.integer : static_cast<std::int64_t>(raw.uinteger);
      Value v = Value::from_int(x);
      for (const auto& [name, value] : type.enum_def->variants) {
        if (value == x) { v.string = name; break; }
      }
      return v;
    }
    case TypeKind::kEntityRef: return Value::from_entity(Entity::from_bits(get<std::uint64_t>(in)));
    case TypeKind::kString: {
      std::size_t n = 0;
      while (n < type.length && in[n] != std::byte{0}) ++n;
      return Value::from_string(std::string(reinterpret_cast<const char*>(in), n));
    }
    case TypeKind::kArray: {
      Value v;
      v.kind = Value::Kind::kArray;
      for (std::uint32_t i = 0; i < type.length; ++i) v.elements.push_back(decode_value(*type.element, in + std::size_t{i} * type.element->size));
      return v;
    }
    case TypeKind::kStruct: {
      Value v;
      v.kind = Value::Kind::kStruct;
      for (const Field& f : type.struct_def->layout.fields) v.fields.emplace_back(f.name, decode_value(f.type, in + f.offset));
      return v;
    }
  }
  return Value::null();
}

namespace {

// A value of `type` without a default of its own: zeros, except the members of a struct that declare one
// (recursively, and in every element of an array of structs).
void encode_member_defaults(const Type& type, std::byte* out) {
  if (type.kind == TypeKind::kStruct) {
    for (const Field& member : type.struct_def->layout.fields) encode_default(member, out + member.offset);
  } else if (type.kind == TypeKind::kArray) {
    for (std::uint32_t i = 0; i < type.length; ++i) encode_member_defaults(*type.element, out + std::size_t{i} * type.element->size);
  }
}

}  // namespace

void encode_default(const Field& field, std::byte* out) {
  std::memset(out, 0, field.type.size);
  if (!field.default_value) return encode_member_defaults(field.type, out);
  const DefaultValue& d = *field.default_value;
  Value v;
  switch (d.kind) {
    case DefaultValue::Kind::kInteger: v = Value::from_int(d.integer); break;
    case DefaultValue::Kind::kFloat: v = Value::from_float(d.floating); break;
    case DefaultValue::Kind::kBool: v = Value::from_bool(d.boolean); break;
    case DefaultValue::Kind::kString: v = Value::from_string(d.string); break;
  }
  if (field.type.kind == TypeKind::kEnum && d.kind == DefaultValue::Kind::kString) {
    v = Value::from_string(d.string);
  }
  encode_value(field.type, v, out, field.name).ignore();  // validated when the schema was loaded
}

}  // namespace ecsdb::storage
