/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * The flow-table interpreter (conjflow/interp.h): runs a packet through a
 * node's compiled flows with OVS's lookup semantics, for the differential
 * and unit tests.  Written for clarity over speed: a lookup scans a table's
 * flows from the highest priority down.
 */
#include "conjflow-config.h"

#include "conjflow/interp.h"

#include <stdlib.h>
#include <string.h>

#include "conjflow/cfutil.h"

/* The flows of one table, sorted by priority descending. */
struct interp_table {
    size_t *flows;              /* Indices into the set (owned). */
    size_t n;
};

struct cf_interp {
    const struct cflow_set *set;                /* Not owned. */
    struct interp_table tables[256];            /* Per table number. */
};

/* The state of one packet as it moves through the tables. */
struct interp_state {
    const struct cf_interp_packet *pkt;  /* The packet. */
    uint8_t ct_state;           /* Current conntrack state (0: untracked). */
    uint32_t ct_mark;           /* Current ct_mark (0: untracked). */
    struct cf_interp_result *result;     /* Registers, hits, verdict. */
    int depth;                  /* Resubmit depth (bounded). */
};

/* The set being sorted by sort_by_priority() (qsort() has no context). */
static const struct cflow_set *sort_set;

/* qsort() comparison of flow indices: priority descending, then index. */
static int
sort_by_priority(const void *a_, const void *b_)
{
    size_t a = *(const size_t *) a_;
    size_t b = *(const size_t *) b_;
    uint16_t pa = sort_set->flows[a].priority;
    uint16_t pb = sort_set->flows[b].priority;
    if (pa != pb) {
        return pa > pb ? -1 : 1;
    }
    return a < b ? -1 : a > b;
}

/* Creates an interpreter over 'flows'. */
struct cf_interp *
cf_interp_create(const struct cflow_set *flows)
{
    struct cf_interp *in = cf_xzalloc(sizeof *in);
    size_t counts[256];
    memset(counts, 0, sizeof counts);
    in->set = flows;
    for (size_t i = 0; i < flows->n; i++) {
        counts[flows->flows[i].table]++;
    }
    for (size_t t = 0; t < 256; t++) {
        if (counts[t]) {
            in->tables[t].flows = cf_xcalloc(counts[t], sizeof(size_t));
        }
    }
    for (size_t i = 0; i < flows->n; i++) {
        struct interp_table *t = &in->tables[flows->flows[i].table];
        t->flows[t->n++] = i;
    }
    sort_set = flows;
    for (size_t t = 0; t < 256; t++) {
        if (in->tables[t].n > 1) {
            qsort(in->tables[t].flows, in->tables[t].n, sizeof(size_t),
                  sort_by_priority);
        }
    }
    sort_set = NULL;
    return in;
}

/* Frees 'in'.  Accepts NULL. */
void
cf_interp_destroy(struct cf_interp *in)
{
    if (in) {
        for (size_t t = 0; t < 256; t++) {
            free(in->tables[t].flows);
        }
        free(in);
    }
}

/* Initializes 'r' empty. */
void
cf_interp_result_init(struct cf_interp_result *r)
{
    memset(r, 0, sizeof *r);
}

/* Frees what 'r' owns. */
void
cf_interp_result_destroy(struct cf_interp_result *r)
{
    free(r->hits);
    memset(r, 0, sizeof *r);
}

/* True if 'm' matches the packet in state 's', ignoring conj_id. */
static bool
match_packet(const struct cflow_match *m, const struct interp_state *s)
{
    const struct cf_interp_packet *p = s->pkt;
    uint32_t f = m->fields;
    bool l4 = (!p->arp && (p->nw_proto == 6 || p->nw_proto == 17
                           || p->nw_proto == 132));

    if ((f & CFLOW_F_IN_PORT) && m->in_port != p->in_port) {
        return false;
    }
    if ((f & CFLOW_F_DL_SRC) && memcmp(m->dl_src, p->dl_src, 6)) {
        return false;
    }
    if ((f & CFLOW_F_DL_TYPE) && m->dl_type != (p->arp ? 0x0806 : 0x0800)) {
        return false;
    }
    if ((f & CFLOW_F_NW_PROTO) && (p->arp || m->nw_proto != p->nw_proto)) {
        return false;
    }
    if ((f & CFLOW_F_NW_SRC)
        && (p->arp || (p->nw_src & m->nw_src_mask)
                      != (m->nw_src & m->nw_src_mask))) {
        return false;
    }
    if ((f & CFLOW_F_NW_DST)
        && (p->arp || (p->nw_dst & m->nw_dst_mask)
                      != (m->nw_dst & m->nw_dst_mask))) {
        return false;
    }
    if ((f & CFLOW_F_TP_DST)
        && (!l4 || (p->tp_dst & m->tp_dst_mask)
                   != (m->tp_dst & m->tp_dst_mask))) {
        return false;
    }
    if ((f & CFLOW_F_ARP_SPA) && (!p->arp || m->arp_spa != p->nw_src)) {
        return false;
    }
    if ((f & CFLOW_F_ARP_SHA)
        && (!p->arp || memcmp(m->arp_sha, p->dl_src, 6))) {
        return false;
    }
    if ((f & CFLOW_F_REG0)
        && (s->result->regs[0] & m->reg0_mask) != (m->reg0 & m->reg0_mask)) {
        return false;
    }
    if ((f & CFLOW_F_REG1) && s->result->regs[1] != m->reg1) {
        return false;
    }
    if ((f & CFLOW_F_REG2) && s->result->regs[2] != m->reg2) {
        return false;
    }
    if ((f & CFLOW_F_CT_STATE)
        && (s->ct_state & m->ct_state_mask)
           != (m->ct_state & m->ct_state_mask)) {
        return false;
    }
    if ((f & CFLOW_F_CT_MARK)
        && (s->ct_mark & m->ct_mark_mask) != (m->ct_mark & m->ct_mark_mask)) {
        return false;
    }
    return true;
}

/* True if 'flow' is a conjunction clause flow. */
static bool
is_clause(const struct cflow *flow)
{
    return flow->n_actions && flow->actions[0].type == CFLOW_A_CONJUNCTION;
}

/* Progress of one conjunction during a lookup. */
struct conj_seen {
    uint32_t id;                /* Conjunction id. */
    uint64_t clauses;           /* Bit k-1 set: clause k matched. */
    uint8_t n_clauses;          /* Clauses it needs. */
};

/* Finds the conj_id=id flow of table 't' that matches 's'; returns its
 * index or SIZE_MAX. */
static size_t
find_conj_flow(const struct cf_interp *in, const struct interp_table *t,
               uint32_t id, const struct interp_state *s)
{
    for (size_t i = 0; i < t->n; i++) {
        const struct cflow *f = &in->set->flows[t->flows[i]];
        if ((f->match.fields & CFLOW_F_CONJ_ID) && f->match.conj_id == id
            && match_packet(&f->match, s)) {
            return t->flows[i];
        }
    }
    return SIZE_MAX;
}

/* Looks up table 'table' for the packet in 's'.  Returns the index of the
 * flow to execute, or SIZE_MAX on a miss. */
static size_t
lookup(const struct cf_interp *in, uint8_t table,
       const struct interp_state *s)
{
    const struct interp_table *t = &in->tables[table];
    struct conj_seen *seen = NULL;
    size_t n_seen = 0, allocated_seen = 0;
    size_t result = SIZE_MAX;

    for (size_t i = 0; i < t->n && result == SIZE_MAX; ) {
        uint16_t prio = in->set->flows[t->flows[i]].priority;
        size_t end = i;
        while (end < t->n && in->set->flows[t->flows[end]].priority == prio) {
            end++;
        }
        /* Plain flows at this priority first. */
        for (size_t j = i; j < end; j++) {
            const struct cflow *f = &in->set->flows[t->flows[j]];
            if (!is_clause(f) && !(f->match.fields & CFLOW_F_CONJ_ID)
                && match_packet(&f->match, s)) {
                result = t->flows[j];
                break;
            }
        }
        if (result != SIZE_MAX) {
            break;
        }
        /* Then conjunctions: collect the clauses that match. */
        n_seen = 0;
        for (size_t j = i; j < end; j++) {
            const struct cflow *f = &in->set->flows[t->flows[j]];
            if (!is_clause(f) || !match_packet(&f->match, s)) {
                continue;
            }
            for (size_t k = 0; k < f->n_actions; k++) {
                const struct cflow_action *a = &f->actions[k];
                size_t x;
                for (x = 0; x < n_seen; x++) {
                    if (seen[x].id == a->id) {
                        break;
                    }
                }
                if (x == n_seen) {
                    if (n_seen >= allocated_seen) {
                        seen = cf_x2nrealloc(seen, &allocated_seen,
                                             sizeof *seen);
                    }
                    seen[x].id = a->id;
                    seen[x].clauses = 0;
                    seen[x].n_clauses = a->n_clauses;
                    n_seen++;
                }
                seen[x].clauses |= 1ULL << ((a->clause - 1) & 63);
            }
        }
        /* The lowest completed conjunction id wins; an incomplete one
         * falls through to lower priorities. */
        uint32_t best = UINT32_MAX;
        bool found = false;
        for (size_t x = 0; x < n_seen; x++) {
            uint64_t all = (seen[x].n_clauses >= 64 ? UINT64_MAX
                            : (1ULL << seen[x].n_clauses) - 1);
            if (seen[x].clauses == all && (!found || seen[x].id < best)) {
                best = seen[x].id;
                found = true;
            }
        }
        if (found) {
            result = find_conj_flow(in, t, best, s);
        }
        i = end;
    }
    free(seen);
    return result;
}

/* Appends 'idx' to the hits of 'r'. */
static void
add_hit(struct cf_interp_result *r, size_t idx)
{
    if (r->n_hits >= r->allocated_hits) {
        r->hits = cf_x2nrealloc(r->hits, &r->allocated_hits,
                                sizeof *r->hits);
    }
    r->hits[r->n_hits++] = idx;
}

/* Runs the packet in 's' from table 'table' until it stops (a miss, a
 * flow without goto, or drop). */
static void
run_from(const struct cf_interp *in, int table, struct interp_state *s)
{
    struct cf_interp_result *r = s->result;
    int steps = 0;

    if (++s->depth > 16) {
        s->depth--;
        return;
    }
    while (table >= 0 && steps++ < 64) {
        if (table == CFLOW_T_SCTP_REPLY && s->pkt->sctp_learned_reply
            && s->pkt->nw_proto == 132 && !s->pkt->arp) {
            /* The learned reply flow (see interp.h). */
            r->regs[0] |= 2;
        }
        if (table == CFLOW_T_SCTP_REPLY && s->pkt->sctp_learned_deny
            && s->pkt->nw_proto == 132 && !s->pkt->arp) {
            /* The learned "denied reply" flow. */
            r->regs[0] |= CFLOW_REG0_SCTP_DENIED;
        }
        size_t idx = lookup(in, table, s);
        if (idx == SIZE_MAX) {
            break;
        }
        add_hit(r, idx);
        const struct cflow *f = &in->set->flows[idx];
        int next = -1;
        for (size_t i = 0; i < f->n_actions; i++) {
            const struct cflow_action *a = &f->actions[i];
            switch (a->type) {
            case CFLOW_A_GOTO:
                next = a->table;
                break;
            case CFLOW_A_CT:
                s->ct_state = ((s->pkt->ct_state ? s->pkt->ct_state
                                : CFLOW_CS_NEW) | CFLOW_CS_TRK);
                s->ct_mark = s->pkt->ct_mark;
                next = a->table;
                break;
            case CFLOW_A_CT_COMMIT:
                r->committed = true;
                s->ct_mark = (s->ct_mark & ~a->mask) | (a->value & a->mask);
                r->ct_mark = s->ct_mark;
                break;
            case CFLOW_A_LOAD_REG:
                if (a->reg < 3) {
                    r->regs[a->reg] = ((r->regs[a->reg] & ~a->mask)
                                       | (a->value & a->mask));
                }
                break;
            case CFLOW_A_NORMAL:
            case CFLOW_A_IN_PORT:
                r->forwarded = true;
                break;
            case CFLOW_A_RESUBMIT:
                run_from(in, a->table, s);
                break;
            case CFLOW_A_LEARN_SCTP_REPLY:
                r->learned = true;
                break;
            case CFLOW_A_LEARN_SCTP_DENY:
                r->learned_deny = true;
                break;
            case CFLOW_A_CONJUNCTION:
            case CFLOW_A_DROP:
            case CFLOW_A_CONTROLLER:    /* A copy to conjflowd only. */
                break;
            }
        }
        table = next;
    }
    s->depth--;
}

/* See interp.h. */
bool
cf_interp_run(const struct cf_interp *in, const struct cf_interp_packet *pkt,
              struct cf_interp_result *result)
{
    struct interp_state s;
    size_t *hits = result->hits;
    size_t allocated = result->allocated_hits;

    memset(result, 0, sizeof *result);
    result->hits = hits;
    result->allocated_hits = allocated;
    s.pkt = pkt;
    s.ct_state = 0;
    s.ct_mark = 0;
    s.result = result;
    result->ct_mark = pkt->ct_mark;
    s.depth = 0;
    run_from(in, CFLOW_T_CLASSIFY, &s);
    return result->forwarded;
}
