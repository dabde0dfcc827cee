#include "ecsdb/value.hpp"

#include <cstdio>

namespace ecsdb {

std::string Value::to_string() const {
  switch (kind) {
    case Kind::kNull: return "null";
    case Kind::kBool: return boolean ? "true" : "false";
    case Kind::kInt: return string.empty() ? std::to_string(integer) : string;
    case Kind::kUInt: return std::to_string(uinteger);
    case Kind::kFloat: {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.9g", floating);
      return buf;
    }
    case Kind::kString: return "\"" + string + "\"";
    case Kind::kEntity: return "entity(" + std::to_string(entity.index()) + "v" + std::to_string(entity.generation()) + ")";
    case Kind::kArray: {
      std::string out = "[";
      for (std::size_t i = 0; i < elements.size(); ++i) out += (i ? ", " : "") + elements[i].to_string();
      return out + "]";
    }
    case Kind::kStruct: {
      std::string out = "{";
      for (std::size_t i = 0; i < fields.size(); ++i) out += (i ? ", " : "") + fields[i].first + ": " + fields[i].second.to_string();
      return out + "}";
    }
  }
  return "?";
}

}  // namespace ecsdb
