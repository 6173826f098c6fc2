#include "turn.h"

#include <stddef.h>

void sl_turn_init(struct sl_turn *t)
{
    TAILQ_INIT(&t->tasks);
    t->depth = 0;
}

void sl_turn_task_init(struct sl_turn_task *task, void (*run)(struct sl_turn_task *task))
{
    task->run = run;
    task->queue = NULL;
}

void sl_turn_begin(struct sl_turn *t)
{
    t->depth++;
}

void sl_turn_end(struct sl_turn *t)
{
    if (t->depth > 1) {
        t->depth--;
        return;
    }
    /* still open while the tasks run: what they defer runs here too */
    struct sl_turn_task *task;
    while ((task = TAILQ_FIRST(&t->tasks)) != NULL) {
        sl_turn_cancel(task);
        task->run(task);
    }
    t->depth = 0;
}

bool sl_turn_defer(struct sl_turn *t, struct sl_turn_task *task)
{
    if (t->depth == 0)
        return false;
    if (task->queue == NULL) {
        TAILQ_INSERT_TAIL(&t->tasks, task, link);
        task->queue = t;
    }
    return true;
}

void sl_turn_cancel(struct sl_turn_task *task)
{
    if (task->queue == NULL)
        return;
    TAILQ_REMOVE(&task->queue->tasks, task, link);
    task->queue = NULL;
}
