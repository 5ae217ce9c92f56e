void prof_hook(unsigned i);
