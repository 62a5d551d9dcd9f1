/*
 * tapfwd: the ceiling for any user-space TAP-to-TAP forwarder.
 *
 * bench/tap-forward compiles this with `cc -O2` and runs it in the same run
 * as wirelab's TypeScript forwarder: whatever it reaches is what a program
 * doing one read() and one write() per frame can reach on this machine.
 *
 *   tapfwd [--vnet] TAP_A TAP_B
 *
 * Opens (creates) both TAP devices, prints "READY" once they exist so the
 * caller can move them into namespaces, then copies frames both ways until
 * SIGTERM/SIGINT. With --vnet both carry a 10-byte virtio_net_hdr and offer
 * checksum and TSO offload, so 64 KB GSO frames pass untouched.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

static int open_tap(const char *name, int vnet) {
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) { perror("open /dev/net/tun"); exit(1); }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (vnet ? IFF_VNET_HDR : 0);
  strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) { perror("TUNSETIFF"); exit(1); }
  if (vnet) {
    int len = 10;
    if (ioctl(fd, TUNSETVNETHDRSZ, &len) < 0) { perror("TUNSETVNETHDRSZ"); exit(1); }
    if (ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) < 0) { perror("TUNSETOFFLOAD"); exit(1); }
  }
  return fd;
}

/* Writes one frame, waiting for room rather than dropping: TCP through the
 * forwarder should see the path's capacity, not a drop policy. */
static void write_frame(int fd, const unsigned char *buf, ssize_t n, unsigned long *errors) {
  for (;;) {
    if (write(fd, buf, (size_t)n) == n) return;
    if (errno == EAGAIN) {
      struct pollfd p = { .fd = fd, .events = POLLOUT };
      if (poll(&p, 1, 100) < 0 && errno != EINTR) return;
      if (stop) return;
      continue;
    }
    ++*errors; /* EIO while a link is still down, and the like */
    return;
  }
}

int main(int argc, char **argv) {
  int vnet = 0, argi = 1;
  if (argc > 1 && strcmp(argv[1], "--vnet") == 0) { vnet = 1; argi++; }
  if (argc - argi != 2) { fprintf(stderr, "usage: tapfwd [--vnet] TAP_A TAP_B\n"); return 2; }
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  int fds[2] = { open_tap(argv[argi], vnet), open_tap(argv[argi + 1], vnet) };
  printf("READY\n");
  fflush(stdout);
  static unsigned char buf[65536 + 64];
  unsigned long frames = 0, errors = 0;
  struct pollfd p[2] = { { .fd = fds[0], .events = POLLIN }, { .fd = fds[1], .events = POLLIN } };
  while (!stop) {
    if (poll(p, 2, 200) < 0) { if (errno == EINTR) continue; perror("poll"); break; }
    for (int i = 0; i < 2; i++) {
      if (!(p[i].revents & POLLIN)) continue;
      for (;;) {
        ssize_t n = read(fds[i], buf, sizeof buf);
        if (n <= 0) break;
        write_frame(fds[1 - i], buf, n, &errors);
        frames++;
      }
    }
  }
  fprintf(stderr, "tapfwd: %lu frames, %lu write errors\n", frames, errors);
  return 0;
}
