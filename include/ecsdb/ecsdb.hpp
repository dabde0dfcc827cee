// ecsdb/ecsdb.hpp — the whole public API in one include.
#pragma once

#include "ecsdb/bind.hpp"
#include "ecsdb/database.hpp"
#include "ecsdb/entity.hpp"
#include "ecsdb/schema.hpp"
#include "ecsdb/status.hpp"
#include "ecsdb/value.hpp"
