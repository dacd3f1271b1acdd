# jetty-itk @project.version@: see the jetty-itk README, section "The Jetty module".

[description]
Runs each virtual host as its own Unix user (jetty-itk, like Apache's mpm-itk).
Inserts an ItkHandler at the tail of the server's handler chain: a request for a
host that a vhost names is served by a worker JVM running as that vhost's user
(uid, gid, groups), other requests go on to the server's contexts.
Each vhost is one Jetty XML file in ${jetty.base}/itk/ (<Configure class="org.jettyitk.VirtualHost">),
added, replaced and removed while the server runs.
The server must start as root; with jetty.itk.frontUser set it drops to that user once started.

[tags]
handler
itk
security

[environment]
ee10

[depends]
server
itk-http2
ee10-webapp
itk-jnr

[files]
itk/
maven://org.jettyitk/jetty-itk/@project.version@|lib/itk/jetty-itk-@project.version@.jar

[lib]
# The workers' HTTP/2 server side (the worker class path is the front's).
lib/http2/jetty-http2-server-${jetty.version}.jar
lib/itk/jetty-itk-@project.version@.jar

[xml]
etc/jetty-itk.xml

[ini-template]
# tag::documentation[]
## jetty-itk: each virtual host runs as its own Unix user.
## Each vhost is one Jetty XML file in jetty.itk.directory, for example itk/alice.xml:
##   <?xml version="1.0"?>
##   <!DOCTYPE Configure PUBLIC "-//Jetty//Configure//EN" "https://jetty.org/configure_10_0.dtd">
##   <Configure class="org.jettyitk.VirtualHost">
##     <Call name="addHostName"><Arg>alice.example.com</Arg></Call>
##     <Set name="user">alice</Set>
##     <Set name="app"><Property name="jetty.base"/>/tenants/alice/site.war</Set>
##   </Configure>

## The directory of vhost files (*.xml; hidden files are ignored); only root may write it and them.
## With jetty.itk.frontUser set, the server reads them as that user once started: make the directory mode 0750
## and the files 0640, owned by root, group jetty.itk.frontGroup (chgrp jetty itk itk/*.xml).
# jetty.itk.directory=${jetty.base}/itk

## Seconds between two scans of the vhost directory for added, changed and removed files (0: read them once at start).
# jetty.itk.scanIntervalSeconds=1

## The vhost (a file's name without .xml, unless it sets another name) that serves the hosts no vhost names;
## by default those requests go on to the server's other handlers (contexts, else 404).
# jetty.itk.defaultVirtualHost=

## The user (name or number) the server runs as once it has started: after the connectors are bound (port 80
## included) every thread of the server switches to it for good, with no capability and no-new-privs, and a small
## spawner started before, the only process left as root, starts the workers. Unset, the server keeps root while
## it serves and says so at start. It must be none of the vhosts' users. For example jetty.itk.frontUser=jetty.
# jetty.itk.frontUser=
## Its group (name or number; default: the user's primary group).
# jetty.itk.frontGroup=
## With jetty.itk.frontUser set, the spawner opens the vhosts' log files (logFile) for the server, only directly
## in a directory named while the server was root: these (comma-separated, absolute; owned by root, writable by
## root only; made if missing) and those of the logs of the vhosts read at start. For example /var/log/jetty-itk.
# jetty.itk.logDirectories=

## The range every uid, gid and supplementary gid of a vhost must be in (uid and gid 0 never are).
# jetty.itk.minId=1000
# jetty.itk.maxId=60000

## The java binary of the worker JVMs (default: the server's own).
# jetty.itk.javaCommand=

## Options of every worker JVM, space-separated (a vhost file may replace them with <Set name="jvmOptions">).
# jetty.itk.workerJvmOptions=-Xms8m -Xmx256m -XX:+UseG1GC -XX:G1PeriodicGCInterval=30000 -Xss512k -XX:+ExitOnOutOfMemoryError -Xshare:auto -XX:+IgnoreUnrecognizedVMOptions -XX:+UnlockExperimentalVMOptions -XX:TrimNativeHeapInterval=1000 -XX:+UnlockDiagnosticVMOptions -XX:ArchiveRelocationMode=0

## The class path of the worker JVMs (default: the server's own jars; unreadable ones are copied for the tenants).
# jetty.itk.workerClassPath=

## Whether workers are exec'd through /usr/bin/setpriv, so that the worker JVM never runs as root.
## Without /usr/bin/setpriv (util-linux) a server running as root does not start; false only for one that is not root.
# jetty.itk.useSetpriv=true

## Train, at start, a class-data-sharing archive of the classes every worker loads; workers with the
## default JVM options map it: they start faster and share those pages.
# jetty.itk.workerClassArchive=true

## Where the kernel's autogroup is on (kernel.sched_autogroup_enabled=1) and the server is in no CPU cgroup of
## its own, each worker's session would be a CPU scheduling group apart from the server's, and every request
## would pay for it in thread switches. The server then moves, at start, into the CPU cgroup jetty-itk-PID,
## where its workers are born. false leaves it where it is (give its service a CPU cgroup yourself).
# jetty.itk.cpuGroup=true

## The directory of the workers' home and temporary directories (default: a new temporary directory, deleted at stop).
# jetty.itk.workDirectory=

## Longest wait for a new worker to be ready, in ms; past it, waiting requests get 503.
# jetty.itk.spawnTimeoutMillis=30000

## Defaults of every vhost (a vhost file may set its own: maxWorkers, maxRequests, idleTimeoutMillis, ...).
## Most workers per vhost.
# jetty.itk.maxWorkersPerVirtualHost=1
## Most requests of a vhost in flight; more get 503 with Retry-After.
# jetty.itk.maxRequestsPerVirtualHost=1000
## Idle time after which a worker is stopped, in ms (0: never).
# jetty.itk.idleTimeoutMillis=600000
## Requests after which a worker is replaced (0: never).
# jetty.itk.maxRequestsPerWorker=0
## Age after which a worker is replaced, in ms (0: never).
# jetty.itk.maxWorkerAgeMillis=0
## Time after which a request without a complete response gets 504, in ms (0: never).
# jetty.itk.requestTimeoutMillis=0
## Most WebSockets of a vhost open at once; more get 503 with Retry-After (0: no WebSocket).
# jetty.itk.maxWebSocketsPerVirtualHost=256
## Time after which a WebSocket that carried nothing either way is closed, in ms.
# jetty.itk.webSocketIdleTimeoutMillis=300000

## How long requests in flight may take to finish when a worker is stopped or replaced, in ms.
# jetty.itk.drainTimeoutMillis=30000

## Crash loops: a vhost whose workers exit unexpectedly crashLimit times within crashIntervalMillis gets no new
## worker (its requests get 503 with Retry-After) for minCrashBackoffMillis, doubled at each new loop up to
## maxCrashBackoffMillis; a worker that gets ready ends the loop.
# jetty.itk.crashLimit=3
# jetty.itk.crashIntervalMillis=10000
# jetty.itk.minCrashBackoffMillis=1000
# jetty.itk.maxCrashBackoffMillis=60000

## Most worker processes of all vhosts at once (0: no cap).
# jetty.itk.maxWorkers=500

## Path of a JSON status page (vhosts, users, uids, workers' pids), answered only for hosts no vhost serves,
## such as 127.0.0.1, and only to the clients of jetty.itk.statusAllow.
# jetty.itk.statusPath=

## Who may read the status page, judged by the address of the client's connection (never by Host,
## Forwarded or X-Forwarded-For): comma-separated numeric addresses, CIDR ranges (10.0.0.0/8) and
## ranges (192.0.2.1-192.0.2.9), and "unix" for the clients of unix-domain connectors; empty: nobody.
## A client on this machine is also judged by who owns its socket: a process running as a vhost's uid
## never reads the page, over loopback or otherwise; other local users do. Unix-domain clients are whoever
## the socket file's mode lets in.
# jetty.itk.statusAllow=127.0.0.0/8,::1
# end::documentation[]
