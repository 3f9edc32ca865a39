/* instance.h: one gateway per store. A gateway (and `taskgate restore`) holds an exclusive
 * lock on <store>.lock for as long as it uses the store, so a second one cannot open it. */
#ifndef TG_INSTANCE_H
#define TG_INSTANCE_H

#include <stddef.h>

/* Takes the lock of the store at store_path without waiting, creating <store>.lock if needed,
 * and writes this process's pid into it. Returns the lock's descriptor, to keep open while the
 * store is in use (tg_instance_release, or the process's end, lets it go); or -1 with a message
 * in err (naming the holder's pid when another process has it). A store path of ":memory:"
 * needs no lock: returns -2. */
int tg_instance_claim(const char *store_path, char *err, size_t errcap);
/* Lets the lock go (fd from tg_instance_claim; negative values are ignored). */
void tg_instance_release(int fd);

#endif
