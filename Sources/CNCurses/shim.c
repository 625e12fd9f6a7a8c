#define _GNU_SOURCE 1
#include "CNCurses.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <term.h>
#include <unistd.h>

static volatile sig_atomic_t hooktop_pending_signal = 0;
static volatile sig_atomic_t hooktop_curses_active = 0;
static volatile sig_atomic_t hooktop_saved_stderr = -1;
static SCREEN *hooktop_screen = NULL;

int hooktop_setup_locale(void) {
    setlocale(LC_ALL, "");
    const char *codeset = nl_langinfo(CODESET);
    if (codeset == NULL) return 0;
    return (strcasecmp(codeset, "UTF-8") == 0 || strcasecmp(codeset, "UTF8") == 0) ? 1 : 0;
}

int hooktop_terminal_addressable(void) {
    int error = 0;
    if (setupterm(NULL, 1, &error) != OK) return -1;
    const char *cup = tigetstr("cup");
    int addressable = (cup != NULL && cup != (char *)-1) ? 1 : 0;
    del_curterm(cur_term);
    cur_term = NULL;
    return addressable;
}

int hooktop_start(void) {
    hooktop_screen = newterm(NULL, stdout, stdin);
    if (hooktop_screen == NULL) return -1;
    set_term(hooktop_screen);
    hooktop_curses_active = 1;
    return 0;
}

void hooktop_stop(void) {
    if (hooktop_screen == NULL) return;
    hooktop_curses_active = 0;
    endwin();
    delscreen(hooktop_screen);
    hooktop_screen = NULL;
}

void hooktop_size(int *rows, int *cols) {
    int y, x;
    getmaxyx(stdscr, y, x);
    *rows = y;
    *cols = x;
}

int hooktop_put_cell(int y, int x, const wchar_t *chars, int count, attr_t attrs, short pair) {
    wchar_t buffer[CCHARW_MAX + 1];
    int n = count < CCHARW_MAX ? count : CCHARW_MAX;
    for (int i = 0; i < n; i++) buffer[i] = chars[i];
    buffer[n] = 0;
    cchar_t cell;
    if (setcchar(&cell, buffer, attrs, pair, NULL) == ERR) return ERR;
    return mvadd_wch(y, x, &cell);
}

int hooktop_read_key(int *ch) {
    wint_t value = 0;
    int kind = get_wch(&value);
    *ch = (int)value;
    if (kind == OK) return 0;
    if (kind == KEY_CODE_YES) return 1;
    return -1;
}

int hooktop_mouse(int *x, int *y, unsigned long *bstate) {
    MEVENT event;
    if (getmouse(&event) != OK) return -1;
    *x = event.x;
    *y = event.y;
    *bstate = (unsigned long)event.bstate;
    return 0;
}

void hooktop_enable_mouse(void) {
    mousemask(BUTTON1_CLICKED | BUTTON1_PRESSED | BUTTON4_PRESSED | BUTTON5_PRESSED, NULL);
    mouseinterval(0);
}

int hooktop_wcwidth(int codepoint) { return wcwidth((wchar_t)codepoint); }

static void hooktop_quit_handler(int sig) { hooktop_pending_signal = sig; }

static void hooktop_crash_handler(int sig) {
    // The handler was installed with SA_RESETHAND: the re-raise below gets the default disposition (core, exit code).
    if (hooktop_curses_active) {
        endwin();
        hooktop_curses_active = 0;
    }
    raise(sig);
}

static const int hooktop_quit_signals[] = {SIGINT, SIGTERM, SIGHUP};
static const int hooktop_crash_signals[] = {SIGILL, SIGSEGV, SIGBUS, SIGABRT, SIGFPE};

void hooktop_install_signal_handlers(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    sigemptyset(&action.sa_mask);
    action.sa_handler = hooktop_quit_handler;
    for (size_t i = 0; i < sizeof hooktop_quit_signals / sizeof(int); i++) {
        sigaction(hooktop_quit_signals[i], &action, NULL);
    }
    action.sa_handler = hooktop_crash_handler;
    action.sa_flags = SA_RESETHAND | SA_NODEFER;
    for (size_t i = 0; i < sizeof hooktop_crash_signals / sizeof(int); i++) {
        sigaction(hooktop_crash_signals[i], &action, NULL);
    }
}

void hooktop_restore_signal_handlers(void) {
    hooktop_curses_active = 0;
    for (size_t i = 0; i < sizeof hooktop_quit_signals / sizeof(int); i++) signal(hooktop_quit_signals[i], SIG_DFL);
    for (size_t i = 0; i < sizeof hooktop_crash_signals / sizeof(int); i++) signal(hooktop_crash_signals[i], SIG_DFL);
}

extern char **environ;

int hooktop_run_pager(const char *path) {
    const char *pager = getenv("PAGER");
    if (pager == NULL || *pager == '\0') pager = "less";
    char command[4096];
    if (snprintf(command, sizeof command, "%s \"$1\"", pager) >= (int)sizeof command) return -1;
    def_prog_mode();
    endwin();
    /* Ctrl-C while paging is the pager's: this process ignores it, the pager gets the default disposition. */
    struct sigaction ignore, saved_int, saved_quit;
    memset(&ignore, 0, sizeof ignore);
    sigemptyset(&ignore.sa_mask);
    ignore.sa_handler = SIG_IGN;
    sigaction(SIGINT, &ignore, &saved_int);
    sigaction(SIGQUIT, &ignore, &saved_quit);
    posix_spawnattr_t attributes;
    posix_spawnattr_init(&attributes);
    sigset_t defaults;
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGINT);
    sigaddset(&defaults, SIGQUIT);
    posix_spawnattr_setsigdefault(&attributes, &defaults);
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGDEF);
    char *argv[] = {"sh", "-c", command, "sh", (char *)path, NULL};
    pid_t pid;
    int status = 0;
    int rc = posix_spawn(&pid, "/bin/sh", NULL, &attributes, argv, environ);
    if (rc == 0) {
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    }
    posix_spawnattr_destroy(&attributes);
    sigaction(SIGINT, &saved_int, NULL);
    sigaction(SIGQUIT, &saved_quit, NULL);
    reset_prog_mode();
    refresh();
    if (rc != 0) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void hooktop_write_raw(const char *bytes) {
    size_t length = strlen(bytes);
    while (length > 0) {
        ssize_t written = write(1, bytes, length);
        if (written < 0 && errno == EINTR) continue;
        if (written <= 0) return;
        bytes += written;
        length -= (size_t)written;
    }
}

int hooktop_take_signal(void) {
    int sig = hooktop_pending_signal;
    hooktop_pending_signal = 0;
    return sig;
}

int hooktop_redirect_stderr(const char *path) {
    fflush(stderr);
    int saved = dup(2);
    if (saved < 0) return -1;
    int fd = open(path != NULL ? path : "/dev/null", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0 && path != NULL) {
        /* The log cannot be written (a read-only folder): still keep stderr off the screen. */
        fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    }
    if (fd < 0) {
        close(saved);
        return -1;
    }
    dup2(fd, 2);
    close(fd);
    hooktop_saved_stderr = saved;
    return saved;
}

void hooktop_restore_stderr(int saved) {
    if (saved < 0) return;
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    hooktop_saved_stderr = -1;
}

int hooktop_is_tty(void) { return isatty(0) && isatty(1); }
