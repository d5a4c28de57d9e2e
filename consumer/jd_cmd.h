/*
 * jd_cmd: the journeyd subcommands. Each takes the words after its name
 * and returns the process exit code (0 success, 1 runtime failure,
 * 2 usage or configuration error). Main thread.
 */
#ifndef JD_CMD_H
#define JD_CMD_H

int jd_cmd_run(int argc, char **argv);
int jd_cmd_broker(int argc, char **argv);
int jd_cmd_simulate(int argc, char **argv);
int jd_cmd_inspect(int argc, char **argv);
int jd_cmd_rules(int argc, char **argv);
int jd_cmd_replay(int argc, char **argv);
int jd_cmd_config(int argc, char **argv);

/* Installs SIGINT/SIGTERM handlers that call `fn` (async-signal-safe). */
void jd_cmd_on_signal(void (*fn)(void));

#endif
