#pragma once
// A program's processes, as its launcher started them:
//
//   int main(int argc, char** argv) {
//       return bagnet::distributed::on_launched_processes(argc, argv, [&](Communicator& processes) {
//           ... options.processes = &processes; train::fit(...) ...
//           return 0;
//       });
//   }
//
// Where a launcher (mpirun, srun) started several processes, they talk through MPI
// (needs the bagnet::mpi CMake target); one process never starts MPI (no MPI_Init,
// its start-up and its allocations). A program built without MPI refuses to be one
// of several processes.
#include "bagnet/distributed/communicator.hpp"
#if BAGNET_WITH_MPI
#include "bagnet/distributed/mpi.hpp"
#endif

namespace bagnet::distributed {

template <class Body>
int on_launched_processes(int& argc, char**& argv, Body&& body) {
#if BAGNET_WITH_MPI
    if (launched_processes() > 1) {
        Mpi processes(argc, argv);
        return body(processes);
    }
#else
    (void)argc;
    (void)argv;
#endif
    require_one_launched_process();
    SingleProcess processes;
    return body(processes);
}

}  // namespace bagnet::distributed
