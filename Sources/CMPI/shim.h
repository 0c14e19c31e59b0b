#pragma once
// The MPI C API for Swift (pkg-config "ompi": Debian's libopenmpi-dev). MPI's predefined handles are
// macros Swift cannot import (Open MPI: casts of global addresses; MPICH: integer constants), so
// they are wrapped in inline functions here.
#include <mpi.h>

static inline MPI_Comm lk_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype lk_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype lk_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype lk_mpi_long(void) { return MPI_LONG; }
static inline MPI_Datatype lk_mpi_byte(void) { return MPI_BYTE; }
static inline MPI_Op lk_mpi_sum(void) { return MPI_SUM; }
static inline MPI_Errhandler lk_mpi_errors_return(void) { return MPI_ERRORS_RETURN; }
static inline int lk_mpi_success(void) { return MPI_SUCCESS; }
static inline int lk_mpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }
