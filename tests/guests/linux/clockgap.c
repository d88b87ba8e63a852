// SPDX-License-Identifier: MIT
// clockgap: watches CLOCK_MONOTONIC inside the Linux test guest for pauses and backward steps.
//
// It wakes every millisecond, reads the clock a few times in a row and remembers the
// largest step between two consecutive reads. A pause of the whole guest (a live update
// of the hypervisor under it) shows as one large step; a clock that steps back is a bug.
// Every second or so it prints one line:
//   linux: clock max_gap_us=N backwards=B samples=M worst_gap_us=W
// N and M are for the last interval, B and W since the start. A backward step is also
// reported at once, as "linux: clock WENT BACKWARDS by N ns".
// usage: clockgap [report interval in ms, default 1000]
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

enum { READS_PER_WAKE = 16, SLEEP_NS = 1000 * 1000 };

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

// One write(2) per line: the console is shared with /init and the kernel, and a line
// split over several writes could be interleaved with theirs.
static void say(const char *format, ...)
{
    char line[200];
    va_list args;
    va_start(args, format);
    int length = vsnprintf(line, sizeof line, format, args);
    va_end(args);
    if (length > 0) {
        ssize_t ignored = write(STDOUT_FILENO, line, (size_t)length < sizeof line ? (size_t)length : sizeof line - 1);
        (void)ignored;
    }
}

int main(int argc, char **argv)
{
    int64_t interval_ns = (argc > 1 ? atoll(argv[1]) : 1000) * 1000000;
    if (interval_ns <= 0) {
        say("linux: clock usage: clockgap [interval_ms > 0]\n");
        return 2;
    }
    const struct timespec nap = {0, SLEEP_NS};
    uint64_t samples = 0, backwards = 0;
    int64_t max_gap = 0, worst_gap = 0;
    int64_t previous = now_ns();
    int64_t report_at = previous + interval_ns;
    for (;;) {
        nanosleep(&nap, NULL);
        for (int i = 0; i < READS_PER_WAKE; i++) {
            int64_t now = now_ns();
            int64_t step = now - previous;
            previous = now;
            samples++;
            if (step < 0) {
                backwards++;
                say("linux: clock WENT BACKWARDS by %lld ns\n", (long long)-step);
                continue;
            }
            if (step > max_gap)
                max_gap = step;
            if (step > worst_gap)
                worst_gap = step;
        }
        if (previous >= report_at) {
            say("linux: clock max_gap_us=%lld backwards=%llu samples=%llu worst_gap_us=%lld\n",
                (long long)(max_gap / 1000), (unsigned long long)backwards, (unsigned long long)samples,
                (long long)(worst_gap / 1000));
            max_gap = 0;
            samples = 0;
            report_at = previous + interval_ns;
        }
    }
}
