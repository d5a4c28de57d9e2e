/*
 * redis_srv.h: the redis-server harness of the Redis tests (test_state_redis.c,
 * test_store.c). Header-only (static inline), since every test file is its
 * own executable.
 *
 * Server: $JD_REDIS_SOCKET (unix socket) or $JD_REDIS_PORT (127.0.0.1) when
 * the test script exports one; otherwise srv_setup starts a redis-server on
 * a free loopback port as a child process (no persistence, killed by
 * srv_teardown, and by PR_SET_PDEATHSIG if the test itself dies), so a
 * suite never silently skips. srv_start starts a private one (for tests
 * that kill or freeze Redis). g_prefix is the test's key prefix,
 * "<stem><pid>"; srv_teardown deletes "<prefix>:*" and "<prefix>.*" from a
 * shared server.
 */
#ifndef JD_TEST_REDIS_SRV_H
#define JD_TEST_REDIS_SRV_H

#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct srv {
    pid_t pid;        /* 0 when the server is not ours */
    int   port;
    char  sock[108];  /* unix socket path, or "" */
} srv_t;

static srv_t g_srv;
static char  g_prefix[64];

static inline int free_port(void)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    cr_assert(getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static inline void spawn_child(const srv_t *s)
{
    char port[16];
    int fd = open("/dev/null", O_WRONLY);

    prctl(PR_SET_PDEATHSIG, SIGKILL);
    dup2(fd, 1);
    dup2(fd, 2);
    snprintf(port, sizeof port, "%d", s->port);
    if (s->sock[0])
        execlp("redis-server", "redis-server", "--port", port, "--bind",
               "127.0.0.1", "--save", "", "--appendonly", "no",
               "--daemonize", "no", "--unixsocket", s->sock,
               "--unixsocketperm", "700", (char *)NULL);
    else
        execlp("redis-server", "redis-server", "--port", port, "--bind",
               "127.0.0.1", "--save", "", "--appendonly", "no",
               "--daemonize", "no", (char *)NULL);
    _exit(127);
}

static inline redisContext *raw_connect(const srv_t *s)
{
    struct timeval tv = {5, 0};
    redisContext *c = s->sock[0] ? redisConnectUnixWithTimeout(s->sock, tv)
                                 : redisConnectWithTimeout("127.0.0.1",
                                                           s->port, tv);
    if (c && !c->err)
        redisSetTimeout(c, tv);
    return c;
}

static inline void wait_ready(const srv_t *s)
{
    for (int i = 0; i < 500; i++) {
        redisContext *c = raw_connect(s);
        if (c && !c->err) {
            redisReply *r = redisCommand(c, "PING");
            int ok = r && r->type == REDIS_REPLY_STATUS;
            freeReplyObject(r);
            redisFree(c);
            if (ok)
                return;
        } else {
            redisFree(c);
        }
        usleep(20000);
    }
    cr_assert_fail("redis-server did not come up on port %d", s->port);
}

/* Starts a private redis-server (on s->port when set, else a free port). */
static inline void srv_start(srv_t *s, int with_socket)
{
    static int seq;
    if (!s->port)
        s->port = free_port();
    if (with_socket && !s->sock[0])
        snprintf(s->sock, sizeof s->sock, "/tmp/jdt-%d-%d.sock", getpid(),
                 seq++);
    s->pid = fork();
    cr_assert(s->pid >= 0);
    if (s->pid == 0)
        spawn_child(s);
    wait_ready(s);
}

static inline void srv_kill(srv_t *s, int sig)
{
    if (s->pid > 0) {
        kill(s->pid, sig);
        waitpid(s->pid, NULL, 0);
        s->pid = 0;
    }
}

static inline void srv_stop(srv_t *s)
{
    srv_kill(s, SIGTERM);
    if (s->sock[0])
        unlink(s->sock);
}

/* The server of the test (see the top of this file) and its prefix
 * "<stem><pid>". */
static inline void srv_setup(const char *stem)
{
    const char *sock = getenv("JD_REDIS_SOCKET");
    const char *port = getenv("JD_REDIS_PORT");

    memset(&g_srv, 0, sizeof g_srv);
    if (sock && *sock)
        snprintf(g_srv.sock, sizeof g_srv.sock, "%s", sock);
    else if (port && *port)
        g_srv.port = atoi(port);
    else
        srv_start(&g_srv, 0);
    snprintf(g_prefix, sizeof g_prefix, "%s%d", stem, (int)getpid());
}

/* Deletes this test's keys, "<prefix>:*" and "<prefix>.<suffix>:*"
 * (matters only on a shared server). */
static inline void drop_prefix(const srv_t *s, const char *prefix)
{
    redisContext *c = raw_connect(s);
    char cursor[32] = "0";
    if (!c || c->err) {
        redisFree(c);
        return;
    }
    do {
        redisReply *r = redisCommand(c, "SCAN %s MATCH %s[.:]* COUNT 1000",
                                     cursor, prefix);
        if (!r || r->type != REDIS_REPLY_ARRAY) {
            freeReplyObject(r);
            break;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        for (size_t i = 0; i < r->element[1]->elements; i++)
            freeReplyObject(redisCommand(c, "DEL %s",
                                         r->element[1]->element[i]->str));
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    redisFree(c);
}

static inline void srv_teardown(void)
{
    if (g_srv.pid)
        srv_stop(&g_srv);
    else
        drop_prefix(&g_srv, g_prefix);
}

#endif
