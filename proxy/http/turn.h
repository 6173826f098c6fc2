/* Work a callback leaves for its own end.
 *
 * A front's read can start an upstream write (a request's head) that the rest
 * of the same read adds to (its body). Deferred to the end of the read, head
 * and body leave together, and without a turn of the event loop spent on
 * the write: an event_active and its dispatch cost about 300 instructions, a
 * hundredth of a request. Outside a turn nothing is deferred, and the caller
 * uses its event, which also batches what several callbacks of one loop turn
 * add to the same connection.
 *
 * Ownership: a task is embedded in its owner, which cancels it before it
 * goes; the turn borrows queued tasks until it runs them. */
#ifndef SL_TURN_H
#define SL_TURN_H

#include <stdbool.h>
#include <sys/queue.h>

struct sl_turn;

struct sl_turn_task {
    TAILQ_ENTRY(sl_turn_task) link;
    void (*run)(struct sl_turn_task *task);
    struct sl_turn *queue; /* the turn it waits for; NULL when not queued */
};

TAILQ_HEAD(sl_turn_tasks, sl_turn_task);

struct sl_turn {
    struct sl_turn_tasks tasks; /* in the order queued */
    unsigned depth;             /* open begins: turns can nest */
};

void sl_turn_init(struct sl_turn *t);
void sl_turn_task_init(struct sl_turn_task *task, void (*run)(struct sl_turn_task *task));

void sl_turn_begin(struct sl_turn *t);
/* The outermost end runs the queued tasks in order, and those they queue. */
void sl_turn_end(struct sl_turn *t);

/* Queues task (once however often deferred) for the end of the open turn;
 * false when no turn is open. */
bool sl_turn_defer(struct sl_turn *t, struct sl_turn_task *task);
/* Takes task out of its queue, if it is in one. */
void sl_turn_cancel(struct sl_turn_task *task);

#endif
