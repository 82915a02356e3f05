/* cli.h — subcommands of the vigil command, one file each (cli/cli_<area>.c). Each
 * takes the arguments after its name and returns the process exit code. */
#ifndef VIGIL_CLI_H
#define VIGIL_CLI_H

const char *cli_rundir(void);
int cli_probe(int argc, char **argv);
int cli_policy(int argc, char **argv);
int cli_getevents(int argc, char **argv);

#endif
