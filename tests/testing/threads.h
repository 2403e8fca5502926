// The names of this process's threads, as /proc/self/task/*/comm lists them.
#ifndef GENGATE_TESTS_TESTING_THREADS_H_
#define GENGATE_TESTS_TESTING_THREADS_H_

#include <string_view>

namespace gengate::testing {

// How many of this process's threads are named `name` (pthread_setname_np, prctl).
int CountThreadsNamed(std::string_view name);

}  // namespace gengate::testing

#endif  // GENGATE_TESTS_TESTING_THREADS_H_
