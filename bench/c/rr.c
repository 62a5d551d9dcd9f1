/*
 * rr: TCP request/response round trips, TCP_RR-style (what netperf's TCP_RR
 * measures), with the same program on every path so only the path differs.
 *
 * bench/tcp and bench/bridge compile this with `cc -O2` at run time, as they
 * do tapfwd.c, and run it between the namespaces of each path.
 *
 *   rr server IP PORT
 *       listens on IP:PORT, prints "READY", then serves one connection after
 *       another, writing back every byte it reads, until SIGTERM/SIGINT.
 *   rr client IP PORT SIZE SECONDS MAX
 *       connects (5 s timeout), then over that one connection sends SIZE
 *       bytes and waits for SIZE bytes back, again and again, for SECONDS or
 *       MAX exchanges, whichever ends first (20 warm-up exchanges first, not
 *       counted). Prints one line:
 *         rr: count N p50_us X p99_us Y min_us A max_us B
 *       the percentiles of the round-trip times, in microseconds. A reply
 *       that takes more than 5 s ends the run with exit 1.
 *
 * TCP_NODELAY on both ends: every request and answer leaves at once (the
 * answer carries the ACK of the request).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

static void die(const char *what) { perror(what); exit(1); }

static struct sockaddr_in address(const char *ip, const char *port) {
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)atoi(port));
  if (inet_pton(AF_INET, ip, &a.sin_addr) != 1) { fprintf(stderr, "rr: bad address %s\n", ip); exit(2); }
  return a;
}

static void nodelay(int fd) {
  int one = 1;
  if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0) die("TCP_NODELAY");
}

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static int server(const char *ip, const char *port) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal; /* no SA_RESTART: accept/read return EINTR */
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (ls < 0) die("socket");
  int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = address(ip, port);
  if (bind(ls, (struct sockaddr *)&a, sizeof a) < 0) die("bind");
  if (listen(ls, 16) < 0) die("listen");
  printf("READY\n");
  fflush(stdout);
  static char buf[65536];
  while (!stop) {
    int c = accept(ls, NULL, NULL);
    if (c < 0) { if (errno == EINTR) continue; die("accept"); }
    nodelay(c);
    for (;;) {
      ssize_t n = read(c, buf, sizeof buf);
      if (n <= 0) break;
      for (ssize_t off = 0; off < n;) {
        ssize_t w = write(c, buf + off, (size_t)(n - off));
        if (w <= 0) { n = -1; break; }
        off += w;
      }
      if (n < 0) break;
    }
    close(c);
  }
  return 0;
}

/* Sends size bytes and reads size bytes back; 0 on success. */
static int exchange(int fd, char *buf, size_t size) {
  for (size_t off = 0; off < size;) {
    ssize_t w = write(fd, buf + off, size - off);
    if (w <= 0) return -1;
    off += (size_t)w;
  }
  for (size_t off = 0; off < size;) {
    ssize_t r = read(fd, buf + off, size - off);
    if (r <= 0) return -1;
    off += (size_t)r;
  }
  return 0;
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v[0..n). */
static double pct_us(const uint32_t *v, size_t n, double p) {
  size_t rank = (size_t)(p / 100.0 * (double)n + 0.999999);
  if (rank < 1) rank = 1;
  if (rank > n) rank = n;
  return v[rank - 1] / 1000.0;
}

static int client(const char *ip, const char *port, size_t size, double seconds, size_t max) {
  if (size < 1 || size > 65536 || seconds <= 0 || max < 1 || max > 50000000) { fprintf(stderr, "rr: size 1..65536, seconds > 0, max 1..50000000\n"); return 2; }
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  struct timeval tv = { .tv_sec = 5, .tv_usec = 0 };
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  struct sockaddr_in a = address(ip, port);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) die("connect");
  nodelay(fd);
  char *buf = malloc(size);
  uint32_t *rtt = malloc(max * sizeof *rtt);
  if (buf == NULL || rtt == NULL) die("malloc");
  memset(buf, 'r', size);
  for (int i = 0; i < 20; i++) if (exchange(fd, buf, size) < 0) die("warm-up exchange");
  size_t n = 0;
  uint64_t end = now_ns() + (uint64_t)(seconds * 1e9);
  for (uint64_t t0 = now_ns(); n < max && t0 < end; n++) {
    if (exchange(fd, buf, size) < 0) die("exchange");
    uint64_t t1 = now_ns();
    uint64_t d = t1 - t0;
    rtt[n] = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
    t0 = t1;
  }
  close(fd);
  if (n == 0) { fprintf(stderr, "rr: no exchange completed\n"); return 1; }
  qsort(rtt, n, sizeof *rtt, cmp_u32);
  printf("rr: count %zu p50_us %.1f p99_us %.1f min_us %.1f max_us %.1f\n", n, pct_us(rtt, n, 50), pct_us(rtt, n, 99), rtt[0] / 1000.0, rtt[n - 1] / 1000.0);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 4 && strcmp(argv[1], "server") == 0) return server(argv[2], argv[3]);
  if (argc == 7 && strcmp(argv[1], "client") == 0) return client(argv[2], argv[3], (size_t)atol(argv[4]), atof(argv[5]), (size_t)atol(argv[6]));
  fprintf(stderr, "usage: rr server IP PORT | rr client IP PORT SIZE SECONDS MAX\n");
  return 2;
}
