// The one Boost.Test entry point, linked into every suite executable.
#define BOOST_TEST_MODULE telos
#include <boost/test/unit_test.hpp>
