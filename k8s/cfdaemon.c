/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * Detach, monitor and pidfile for conjflow-k8s (see k8s/cfdaemon.h).
 *
 * Processes with --detach --monitor:
 *
 *   parent (the shell's child) --fork--> monitor --fork--> worker
 *     waits on a pipe: a byte      restarts the worker     does the work;
 *     means the worker is ready    when it dies of a       writes the byte
 *     (exit 0); EOF means start-   crash signal (SEGV,     to the pipe once
 *     up failed (exit with the     ABRT...); exits with    started
 *     monitor's status)            its status otherwise
 */
#include "conjflow-config.h"

#include "k8s/cfdaemon.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conjflow/cfutil.h"
#include "k8s/cflog.h"

CF_LOG_DEFINE_THIS_MODULE(daemon);

struct cf_daemon_options cf_daemon = { NULL, false, false, true };

static int ready_fd = -1;           /* Write end of the detach pipe. */
static int pidfile_fd = -1;         /* Open, locked pidfile. */
static pid_t pidfile_owner;         /* Process that wrote the pidfile. */

/* The run directory (see k8s/cfdaemon.h). */
const char *
cf_daemon_rundir(void)
{
    const char *dir = getenv("OVS_RUNDIR");
    return dir && *dir ? dir : "/var/run/openvswitch";
}

/* <rundir>/<program>.pid (the caller frees it). */
char *
cf_daemon_default_pidfile(const char *program)
{
    return cf_xasprintf("%s/%s.pid", cf_daemon_rundir(), program);
}

/* True if 'status' says the process died of a crash. */
static bool
crashed(int status)
{
    if (!WIFSIGNALED(status)) {
        return false;
    }
    switch (WTERMSIG(status)) {
    case SIGABRT: case SIGALRM: case SIGBUS: case SIGFPE: case SIGILL:
    case SIGSEGV: case SIGXCPU: case SIGXFSZ:
        return true;
    default:
        return false;
    }
}

/* Converts a wait status into an exit status. */
static int
exit_status(int status)
{
    return (WIFEXITED(status) ? WEXITSTATUS(status)
            : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 1);
}

/* The monitor: runs workers until one exits without crashing.  Returns in
 * each new worker. */
static void
monitor(void)
{
    long long last_start = 0;
    for (;;) {
        long long now = cf_time_msec();
        if (last_start && now - last_start < 1000) {
            /* Restarting in a loop: at most once a second. */
            struct timespec ts = { 1, 0 };
            nanosleep(&ts, NULL);
        }
        last_start = cf_time_msec();
        pid_t pid = fork();
        if (pid < 0) {
            CF_ERR("fork failed (%s)", strerror(errno));
            exit(1);
        } else if (pid == 0) {
            return;             /* The worker. */
        }
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
            continue;
        }
        if (!crashed(status)) {
            exit(exit_status(status));
        }
        CF_ERR("worker %ld died of signal %d (%s), restarting", (long) pid,
               WTERMSIG(status), strsignal(WTERMSIG(status)));
    }
}

/* Forks for --detach and --monitor (see k8s/cfdaemon.h). */
void
cf_daemon_start(void)
{
    signal(SIGPIPE, SIG_IGN);
    if (cf_daemon.detach) {
        int fds[2];
        if (pipe(fds)) {
            fprintf(stderr, "pipe failed (%s)\n", strerror(errno));
            exit(1);
        }
        pid_t pid = fork();
        if (pid < 0) {
            fprintf(stderr, "fork failed (%s)\n", strerror(errno));
            exit(1);
        } else if (pid > 0) {
            /* The parent: wait for start-up. */
            close(fds[1]);
            char c;
            ssize_t n;
            while ((n = read(fds[0], &c, 1)) < 0 && errno == EINTR) {
                continue;
            }
            if (n == 1) {
                exit(0);
            }
            int status;
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
                continue;
            }
            exit(exit_status(status) ? exit_status(status) : 1);
        }
        close(fds[0]);
        ready_fd = fds[1];
        setsid();
    }
    if (cf_daemon.monitor) {
        monitor();
    }
}

/* Creates and locks the pidfile, exiting if another process holds it. */
static void
make_pidfile(void)
{
    const char *name = cf_daemon.pidfile;
    int fd = open(name, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        CF_ERR("%s: could not open pidfile (%s)", name, strerror(errno));
        exit(1);
    }
    struct flock lck = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
    if (fcntl(fd, F_SETLK, &lck) < 0) {
        char buf[32] = "";
        ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
        buf[n > 0 ? n : 0] = '\0';
        buf[strcspn(buf, "\n")] = '\0';
        CF_ERR("%s: already running as pid %s (pidfile is locked)", name,
               buf);
        exit(1);
    }
    char buf[32];
    int len = snprintf(buf, sizeof buf, "%ld\n", (long) getpid());
    if (ftruncate(fd, 0) || pwrite(fd, buf, len, 0) != len) {
        CF_ERR("%s: could not write pidfile (%s)", name, strerror(errno));
        exit(1);
    }
    pidfile_fd = fd;
    pidfile_owner = getpid();
}

/* Start-up is complete (see k8s/cfdaemon.h). */
void
cf_daemon_ready(void)
{
    if (cf_daemon.pidfile) {
        make_pidfile();
    }
    if (ready_fd >= 0) {
        char c = 0;
        ssize_t n = write(ready_fd, &c, 1);
        (void) n;
        close(ready_fd);
        ready_fd = -1;
    }
    if (cf_daemon.detach) {
        if (cf_daemon.chdir && chdir("/")) {
            CF_WARN("chdir to / failed (%s)", strerror(errno));
        }
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) {
            dup2(null, STDIN_FILENO);
            dup2(null, STDOUT_FILENO);
            dup2(null, STDERR_FILENO);
            if (null > STDERR_FILENO) {
                close(null);
            }
        }
        cf_log_disable_console();
    }
}

/* Removes the pidfile if this process wrote it. */
void
cf_daemon_cleanup(void)
{
    if (pidfile_fd >= 0 && pidfile_owner == getpid()) {
        unlink(cf_daemon.pidfile);
        close(pidfile_fd);
        pidfile_fd = -1;
    }
}
