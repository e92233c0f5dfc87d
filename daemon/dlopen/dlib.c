/* SPDX-License-Identifier: MIT */
#include <dlfcn.h>
#include <errno.h>

#include "dlib.h"

int dlib_load(Dlib *lib, const char *soname, const DlibSym *syms, size_t n_syms) {
        void *dl;

        if (lib->tried)
                return lib->result;
        lib->tried = true;
        lib->result = -EOPNOTSUPP;
        dl = dlopen(soname, RTLD_NOW | RTLD_NODELETE);
        if (!dl)
                return lib->result;
        for (size_t i = 0; i < n_syms; i++)
                if (!(*syms[i].ptr = dlsym(dl, syms[i].name)))
                        return lib->result;
        lib->result = 0;
        return lib->result;
}
