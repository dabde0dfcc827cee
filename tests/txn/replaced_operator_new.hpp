// For test binaries that replace the global operator new: such a binary adds
// tests/txn/replaced_operator_new.cpp to its sources (it defines every form of operator new and delete,
// so that no allocation made by one form is freed by another — AddressSanitizer checks that) and defines
// allocation_hook(), through which every operator new goes. Not in tests/support: the fuzz build links
// every source there into each fuzzer, and a fuzzer must keep the real operator new.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ecsdb::testing {

// Defined by the test binary: called for every operator new of `n` bytes (`align` = 0 for the default
// alignment); returns plain_allocate(n, align) or throws std::bad_alloc.
void* allocation_hook(std::size_t n, std::size_t align);

// malloc / aligned_alloc; throws std::bad_alloc when they fail. Memory freed by operator delete (free).
void* plain_allocate(std::size_t n, std::size_t align);

// operator delete calls (of a non-null pointer) made on the calling thread so far.
std::uint64_t deallocations_on_this_thread() noexcept;

}  // namespace ecsdb::testing
