#ifndef HOOKTOP_CNCURSES_H
#define HOOKTOP_CNCURSES_H
#define NCURSES_WIDECHAR 1
#define _XOPEN_SOURCE_EXTENDED 1
#include <curses.h>
#include <locale.h>
#include <langinfo.h>
#include <wchar.h>

// Accessors for C globals and function-like macros that Swift cannot import (see TERMINAL.md).

static inline WINDOW *hooktop_stdscr(void) { return stdscr; }
static inline int hooktop_lines(void) { return LINES; }
static inline int hooktop_cols(void) { return COLS; }
static inline int hooktop_colors(void) { return COLORS; }

static inline attr_t hooktop_a_normal(void) { return A_NORMAL; }
static inline attr_t hooktop_a_bold(void) { return A_BOLD; }
static inline attr_t hooktop_a_dim(void) { return A_DIM; }
static inline attr_t hooktop_a_reverse(void) { return A_REVERSE; }
static inline attr_t hooktop_a_underline(void) { return A_UNDERLINE; }

static inline mmask_t hooktop_button1_clicked(void) { return BUTTON1_CLICKED | BUTTON1_PRESSED; }
static inline mmask_t hooktop_button4_pressed(void) { return BUTTON4_PRESSED; }
static inline mmask_t hooktop_button5_pressed(void) { return BUTTON5_PRESSED; }

/// Sets up the locale from the environment; returns 1 when the codeset is UTF-8.
int hooktop_setup_locale(void);

/// Whether $TERM's terminfo entry can move the cursor (`cup`): 1 yes, 0 no (TERM=dumb), -1 no terminfo entry.
int hooktop_terminal_addressable(void);

/// Leaves curses, runs `$PAGER` (default `less`) on the file at `path`, comes back; returns the pager's exit status
/// (127: not found), -1 when it could not be started.
int hooktop_run_pager(const char *path);

/// Writes bytes straight to the terminal (an OSC 52 clipboard sequence: invisible, moves nothing).
void hooktop_write_raw(const char *bytes);

/// `newterm(NULL, stdout, stdin)` + `set_term`; returns 0 on success, -1 when the terminal cannot be opened.
int hooktop_start(void);

/// endwin + delscreen; safe to call twice.
void hooktop_stop(void);

/// Size of stdscr (getmaxyx).
void hooktop_size(int *rows, int *cols);

/// Draws one cell: `count` wide chars (a grapheme cluster) at (y, x) with attributes and colour pair.
int hooktop_put_cell(int y, int x, const wchar_t *chars, int count, attr_t attrs, short pair);

/// Reads one key with `get_wch` semantics: returns 0 for a character (in *ch), 1 for a function key (in *ch), -1 for none.
int hooktop_read_key(int *ch);

/// Last mouse event: returns 0 and fills x/y/bstate on success.
int hooktop_mouse(int *x, int *y, unsigned long *bstate);

/// Enables mouse reporting for clicks and the wheel.
void hooktop_enable_mouse(void);

/// Width of one code point in the current locale (wcwidth).
int hooktop_wcwidth(int codepoint);

// MARK: - Signals and stderr

/// Installs flag-setting handlers for SIGINT, SIGTERM, SIGHUP (polled with hooktop_take_signal) and
/// reset-on-fire handlers for SIGILL, SIGSEGV, SIGBUS, SIGABRT, SIGFPE that call endwin and re-raise.
void hooktop_install_signal_handlers(void);

/// Restores the default disposition of every signal hooktop_install_signal_handlers touched.
void hooktop_restore_signal_handlers(void);

/// The last quit signal received (and clears it), or 0.
int hooktop_take_signal(void);

/// Points fd 2 at `path` (appending; NULL means /dev/null). Returns the saved fd to pass to hooktop_restore_stderr, or -1.
int hooktop_redirect_stderr(const char *path);

/// Puts the saved fd back on fd 2 and closes it.
void hooktop_restore_stderr(int saved);

/// 1 when both stdin and stdout are terminals.
int hooktop_is_tty(void);

#endif
