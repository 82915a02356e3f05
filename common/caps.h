/* caps.h — Linux capabilities by number and by the name Tetragon gives them
 * (its CapabilitiesType enum, whose values are the capability numbers).
 *
 * Inside the pipeline a capability set travels as one unsigned integer, bit n =
 * capability n (docs/wire.md §8.2); the names are written only where a person or a
 * Tetragon client reads them: the JSON export, the gRPC stream, policy matching. */
#ifndef VIGIL_CAPS_H
#define VIGIL_CAPS_H

#include <stddef.h>
#include <stdint.h>

/* Capabilities with a name (0 .. CAPS_KNOWN - 1). */
#define CAPS_KNOWN 41

/* The name of capability bit (Tetragon's spelling; bit 1 is "DAC_OVERRIDE", without
 * the prefix, there too); beyond CAPS_KNOWN "CAP_<n>" written into buf. */
const char *caps_name(unsigned bit, char buf[16]);

/* The number of a capability name, or -1. */
int caps_bit(const char *name, size_t len);

#endif
