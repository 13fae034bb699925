/* The floor: a framed echo with no decoding, for an Elixir Port {packet, 4}.
 *
 * It reads every byte already queued on its stdin, answers every complete
 * frame with the same bytes, and writes all the answers with one write --
 * the loop DESIGN.md describes, so the floor pipelines as well as a worker
 * could. A frame whose first byte is 0xFE is a burst request
 * <<0xFE, Count:32, Size:32>>: it is answered with Count frames of Size
 * bytes (the floor of a stream of Count chunks). Pipes are enlarged to
 * 1 MiB, as the Python worker does. Exits when stdin closes.
 *
 * Built by benchmarks/run.py with: gcc -O2 -o echo echo.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static unsigned char *inbuf, *outbuf;
static size_t incap = 1 << 20, outcap = 1 << 20, inlen = 0, outlen = 0;

static void *grow(void *buf, size_t *cap, size_t need) {
    if (need <= *cap) return buf;
    while (*cap < need) *cap *= 2;
    buf = realloc(buf, *cap);
    if (!buf) _exit(2);
    return buf;
}

static void flush_out(void) {
    size_t done = 0;
    while (done < outlen) {
        ssize_t n = write(1, outbuf + done, outlen - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            _exit(0);
        }
        done += (size_t)n;
    }
    outlen = 0;
}

static void put_u32(unsigned char *p, uint32_t v) {
    p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v;
}

static uint32_t get_u32(const unsigned char *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void burst(uint32_t count, uint32_t size) {
    for (uint32_t i = 0; i < count; i++) {
        if (outlen + 4 + size > (1 << 20)) flush_out();
        outbuf = grow(outbuf, &outcap, outlen + 4 + size);
        put_u32(outbuf + outlen, size);
        memset(outbuf + outlen + 4, 0, size);
        outlen += 4 + size;
    }
}

int main(void) {
    fcntl(0, F_SETPIPE_SZ, 1 << 20);
    fcntl(1, F_SETPIPE_SZ, 1 << 20);
    inbuf = malloc(incap);
    outbuf = malloc(outcap);
    if (!inbuf || !outbuf) return 2;
    for (;;) {
        if (inlen == incap) inbuf = grow(inbuf, &incap, incap * 2);
        ssize_t n = read(0, inbuf + inlen, incap - inlen);
        if (n == 0) return 0;
        if (n < 0) {
            if (errno == EINTR) continue;
            return 1;
        }
        inlen += (size_t)n;
        size_t pos = 0;
        while (inlen - pos >= 4) {
            uint32_t size = get_u32(inbuf + pos);
            if (inlen - pos - 4 < size) {
                inbuf = grow(inbuf, &incap, (size_t)size + 4);
                break;
            }
            unsigned char *frame = inbuf + pos + 4;
            if (size == 9 && frame[0] == 0xFE) {
                burst(get_u32(frame + 1), get_u32(frame + 5));
            } else {
                outbuf = grow(outbuf, &outcap, outlen + 4 + size);
                memcpy(outbuf + outlen, inbuf + pos, 4 + (size_t)size);
                outlen += 4 + (size_t)size;
            }
            pos += 4 + (size_t)size;
        }
        if (pos) {
            memmove(inbuf, inbuf + pos, inlen - pos);
            inlen -= pos;
        }
        if (outlen) flush_out();
    }
}
