// hnswlib 0.6.2 (Debian's libhnswlib-dev) with internal linkage, for the translation units that
// use it: the dense index, and benchmarks that compare against hnswlib used directly.
//
// hnswlib's headers define functions and variables (cpuid, AVXCapable, InnerProductSIMD16Ext, ...)
// without `inline`, so two translation units that include them cannot be linked together.
// Enclosed in an unnamed namespace they get internal linkage: every includer has its own copy,
// telos_storage exports none of them, and an application may also include hnswlib plainly. The
// headers hnswlib includes come first, outside the namespace, so that the enclosed include adds
// nothing but hnswlib's own code. Include this header only from .cpp files, at file scope.
#pragma once

#include <algorithm>
#include <assert.h>
#include <atomic>
#include <cassert>
#include <cmath>
#include <deque>
#include <fstream>
#include <iostream>
#include <limits>
#include <list>
#include <mutex>
#include <queue>
#include <random>
#include <stdexcept>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unordered_map>
#include <unordered_set>
#include <vector>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#include <x86intrin.h>
#endif

#if defined(__SANITIZE_ADDRESS__) && !defined(NO_MANUAL_VECTORIZATION)
// hnswlib's SSE code prefetches through the link one past the end of a full upper-layer link
// list: a real 4-byte load beyond a malloc'd block (harmless for a prefetch, but
// AddressSanitizer rightly reports it). Sanitizer builds use hnswlib's portable code instead.
#define NO_MANUAL_VECTORIZATION
#endif

namespace {
#include <hnswlib/hnswlib.h>
} // namespace
