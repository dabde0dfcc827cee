// Empty: this crate exists only to fetch flecs_ecs_sys's sources (see Cargo.toml).
