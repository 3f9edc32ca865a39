/* watchdog.c: the watchdog thread and the per-thread deadlines it enforces (see watchdog.h). */
#include "watchdog.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>

#include "clock.h"

typedef struct watch_s {
  long long deadline_ns;  /* 0 while disarmed; written by the owner, read by the watchdog */
  long long signalled_ns; /* the deadline the owner was last signalled for (watchdog only) */
  tg_watchdog_expire_fn on_expire;
  void *arg;
  pthread_t owner;
  struct watch_s *next;
} watch_t;

/* The watchdog sleeps until the earliest armed deadline. Deadlines only move later while
 * calls run one after another, so under load it wakes about once per time limit, and an arm
 * wakes it only when its deadline is earlier than the watchdog's next look. */
static struct {
  pthread_mutex_t lock; /* guards the list, the start and the sleep */
  pthread_cond_t wake;  /* on CLOCK_MONOTONIC */
  watch_t *watches;
  int started;            /* 1 running, -1 could not start */
  long long next_look_ns; /* when the watchdog looks next; LLONG_MAX: not until woken */
} watchdog = {.lock = PTHREAD_MUTEX_INITIALIZER, .next_look_ns = LLONG_MAX};

static __thread watch_t *this_thread_watch;

static int expiry_signal(void) { return SIGRTMIN + 1; }

static void on_expiry_signal(int sig) {
  int saved_errno = errno;
  watch_t *watch = this_thread_watch;
  if (watch) {
    long long deadline = __atomic_load_n(&watch->deadline_ns, __ATOMIC_ACQUIRE);
    /* Disarmed, or armed again since the watchdog looked: nothing is late. */
    if (deadline != 0 && tg_monotonic_ns() >= deadline)
      watch->on_expire(watch->arg);
  }
  errno = saved_errno;
}

/* Signals every owner whose deadline has passed; returns the earliest deadline still to come. */
static long long look(void) {
  long long now = tg_monotonic_ns(), next = LLONG_MAX;
  for (watch_t *watch = watchdog.watches; watch; watch = watch->next) {
    long long deadline = __atomic_load_n(&watch->deadline_ns, __ATOMIC_SEQ_CST);
    if (deadline == 0)
      continue;
    if (now < deadline) {
      next = deadline < next ? deadline : next;
    } else if (watch->signalled_ns != deadline) {
      watch->signalled_ns = deadline; /* once per deadline: the handler sets what stops the work */
      pthread_kill(watch->owner, expiry_signal());
    }
  }
  return next;
}

static void *run(void *unused) {
  pthread_mutex_lock(&watchdog.lock);
  for (;;) {
    long long next = look();
    __atomic_store_n(&watchdog.next_look_ns, next, __ATOMIC_SEQ_CST);
    /* An arm that read the old next_look_ns stored its deadline first: looking again sees it. */
    long long again = look();
    if (again < next)
      __atomic_store_n(&watchdog.next_look_ns, next = again, __ATOMIC_SEQ_CST);
    if (next == LLONG_MAX) {
      pthread_cond_wait(&watchdog.wake, &watchdog.lock);
    } else {
      struct timespec until = {.tv_sec = next / 1000000000LL, .tv_nsec = next % 1000000000LL};
      pthread_cond_timedwait(&watchdog.wake, &watchdog.lock, &until);
    }
  }
  return NULL;
}

static int start_locked(void) {
  if (watchdog.started)
    return watchdog.started;
  struct sigaction action = {.sa_handler = on_expiry_signal, .sa_flags = SA_RESTART};
  sigemptyset(&action.sa_mask);
  pthread_t thread;
  pthread_condattr_t cond_attr;
  pthread_condattr_init(&cond_attr);
  pthread_condattr_setclock(&cond_attr, CLOCK_MONOTONIC);
  pthread_cond_init(&watchdog.wake, &cond_attr);
  pthread_condattr_destroy(&cond_attr);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  /* The watchdog itself must never take the signal. */
  sigset_t all, previous;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &previous);
  int ok = sigaction(expiry_signal(), &action, NULL) == 0 && pthread_create(&thread, &attr, run, NULL) == 0;
  pthread_sigmask(SIG_SETMASK, &previous, NULL);
  pthread_attr_destroy(&attr);
  watchdog.started = ok ? 1 : -1;
  return watchdog.started;
}

/* The calling thread's watch, made on its first arm. Watches are never freed: threads that
 * arm deadlines (the loops) live as long as the process. */
static watch_t *watch_of_this_thread(void) {
  if (this_thread_watch)
    return this_thread_watch;
  watch_t *watch = calloc(1, sizeof *watch);
  if (!watch)
    return NULL;
  watch->owner = pthread_self();
  pthread_mutex_lock(&watchdog.lock);
  if (start_locked() < 0) {
    pthread_mutex_unlock(&watchdog.lock);
    free(watch);
    return NULL;
  }
  watch->next = watchdog.watches;
  watchdog.watches = watch;
  pthread_mutex_unlock(&watchdog.lock);
  this_thread_watch = watch;
  return watch;
}

int tg_watchdog_arm(long long deadline_ns, tg_watchdog_expire_fn on_expire, void *arg) {
  watch_t *watch = watch_of_this_thread();
  if (!watch)
    return -1;
  watch->on_expire = on_expire;
  watch->arg = arg;
  __atomic_store_n(&watch->deadline_ns, deadline_ns, __ATOMIC_SEQ_CST);
  if (deadline_ns < __atomic_load_n(&watchdog.next_look_ns, __ATOMIC_SEQ_CST)) {
    pthread_mutex_lock(&watchdog.lock);
    pthread_cond_signal(&watchdog.wake);
    pthread_mutex_unlock(&watchdog.lock);
  }
  return 0;
}

void tg_watchdog_disarm(void) {
  if (this_thread_watch)
    __atomic_store_n(&this_thread_watch->deadline_ns, 0, __ATOMIC_SEQ_CST);
}

/* A later deadline needs no wake-up: the watchdog, waking at the old one, sees the new one and
 * sleeps again. Should the old one have fired meanwhile, on_expire's work looks at the deadline
 * again before it stops anything. */
void tg_watchdog_postpone(long long deadline_ns) {
  watch_t *watch = this_thread_watch;
  if (watch && __atomic_load_n(&watch->deadline_ns, __ATOMIC_SEQ_CST) != 0)
    __atomic_store_n(&watch->deadline_ns, deadline_ns, __ATOMIC_SEQ_CST);
}
