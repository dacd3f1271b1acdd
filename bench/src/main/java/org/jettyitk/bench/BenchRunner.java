package org.jettyitk.bench;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;

import org.eclipse.jetty.util.Jetty;
import org.jettyitk.ItkHandler;
import org.jettyitk.bench.LoadTools.Measurement;
import org.jettyitk.bench.ProcStats.Cpu;
import org.jettyitk.bench.ProcStats.Memory;

/**
 * <p>The benchmark, as {@code bench/run.sh} runs it (as root, after the build): plain Jetty serving
 * {@link org.jettyitk.bench.app.BenchApp} in-process against jetty-itk serving it from a pooled worker, each
 * server its own JVM ({@link BenchServer}), on this machine, in one run.</p>
 * <ol>
 *   <li>Throughput: both servers up, one unrecorded warm-up per workload and server, then rounds; each round
 *   runs every workload on both servers, plain first in odd rounds and jetty-itk first in even ones. Server CPU
 *   time is read from {@code /proc} around each run, memory in the middle of the 75 KB page runs.</li>
 *   <li>Optionally ({@code --profile}) JFR CPU profiles of the front, the worker and plain Jetty under load.</li>
 *   <li>Cold start and memory: a front with {@code --vhosts} idle vhosts (uids 42001..); for the first
 *   {@code --cold-samples} of them, a plain Jetty JVM launch timed to its first response (with the server's
 *   and with the worker's JVM options) alternates with the first request to the next idle vhost; then every
 *   other vhost is hit once, and the RSS and PSS of the front and of every worker are read.</li>
 * </ol>
 * <p>Results go to {@code <results>/runs/<time>/}; the summary files and the chart are also copied to
 * {@code <results>/}, where {@code docs/benchmarks.md} cites them.</p>
 */
public final class BenchRunner
{
    /** The uid of the throughput phase's vhost, outside the memory phase's 42001..42050. */
    public static final int THROUGHPUT_UID = 42100;
    private static final Duration CLASS_ARCHIVE_TIMEOUT = Duration.ofSeconds(120);
    public static final int UPLOAD_BYTES = 10 * 1024 * 1024;

    private final BenchOptions options;
    private final Results results = new Results();
    private final Path runDir;
    private final Path base;
    private final String java;
    private final String classPath;
    private final LoadTools tools;
    private final ScheduledExecutorService scheduler = Executors.newSingleThreadScheduledExecutor(r ->
    {
        Thread thread = new Thread(r, "bench-sampler");
        thread.setDaemon(true);
        return thread;
    });

    private BenchRunner(BenchOptions options, Path runDir, Path base) throws IOException
    {
        this.options = options;
        this.runDir = runDir;
        this.base = base;
        this.java = ProcessHandle.current().info().command().orElse("java");
        this.classPath = System.getProperty("java.class.path");
        Path upload = base.resolve("upload.bin");
        byte[] body = new byte[UPLOAD_BYTES];
        new Random(7).nextBytes(body);
        Files.write(upload, body);
        this.tools = new LoadTools(runDir.resolve("tools"), upload, options.threads, options.connections);
    }

    public static void main(String[] args) throws Exception
    {
        BenchOptions options;
        try
        {
            options = BenchOptions.parse(args);
        }
        catch (IllegalArgumentException x)
        {
            if (!x.getMessage().isEmpty())
                System.err.println("bench: " + x.getMessage());
            System.err.print(BenchOptions.usage());
            System.exit(x.getMessage().isEmpty() ? 0 : 64);
            return;
        }
        System.exit(run(options));
    }

    /**
     * @return the exit status: 0 when every run completed (targets missed or not), else non-zero
     */
    public static int run(BenchOptions options) throws Exception
    {
        if (ProcStats.uid(ProcessHandle.current().pid()) != 0)
        {
            System.err.println("bench: must run as root: the jetty-itk front starts its workers as numeric uids 42001.. (run: sudo bench/run.sh)");
            return 2;
        }
        for (String tool : List.of(LoadTools.WRK, LoadTools.AB))
        {
            if (!LoadTools.isInstalled(tool))
            {
                System.err.println("bench: " + tool + " is not installed: apt-get update && apt-get install -y wrk apache2-utils");
                return 3;
            }
        }
        String stamp = LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"));
        Path runDir = options.results.resolve("runs").resolve(stamp);
        Files.createDirectories(runDir.resolve("logs"));
        Path base = Files.createTempDirectory("jetty-itk-bench-");
        // Tenants traverse it to reach their app directories.
        Files.setPosixFilePermissions(base, PosixFilePermissions.fromString("rwxr-xr-x"));
        try
        {
            BenchRunner runner = new BenchRunner(options, runDir, base);
            runner.execute();
            return 0;
        }
        finally
        {
            deleteTree(base);
        }
    }

    private void execute() throws Exception
    {
        collectEnvironment();
        System.out.println("jetty-itk benchmark: plain Jetty (in-process servlet) against jetty-itk (front + worker JVM)");
        results.environment.forEach((k, v) -> System.out.println("  " + k + ": " + v));
        System.out.println("  NOTE: " + Report.NO_FRESH_WORKER_MODE);
        System.out.printf(Locale.ROOT, "  %d rounds x %d workloads x 2 servers, %d s each (+%d s warm-up); results in %s%n%n",
            options.rounds, options.workloads.size(), options.duration, options.warmup, runDir);

        throughput();
        if (options.coldAndMemory)
            coldStartAndMemory();

        Report report = new Report(results, options);
        report.write(runDir);
        if (results.profile != null)
            Files.writeString(runDir.resolve("profile.txt"), results.profile);
        if (options.chart)
            BenchChart.draw(runDir.resolve(Report.SUMMARY_TSV), runDir.resolve(BenchChart.FILE_NAME), chartSubtitle());
        for (String file : List.of(Report.SUMMARY_TSV, Report.SUMMARY_JSON, Report.SUMMARY_MD, BenchChart.FILE_NAME, "profile.txt"))
        {
            if (Files.exists(runDir.resolve(file)))
                Files.copy(runDir.resolve(file), options.results.resolve(file), StandardCopyOption.REPLACE_EXISTING);
        }
        System.out.println();
        System.out.println(report.markdown());
        System.out.println("Results: " + runDir + " (summary copied to " + options.results + ")");
    }

    private String chartSubtitle()
    {
        return String.format(Locale.ROOT, "%s, %s CPUs, Jetty %s, Java %s; median of %d rounds of %d s", results.environment.get("CPU"),
            results.environment.get("nproc"), Jetty.VERSION, System.getProperty("java.version"), options.rounds, options.duration);
    }

    private void collectEnvironment() throws IOException
    {
        results.environment.put("date", LocalDateTime.now().format(DateTimeFormatter.ISO_LOCAL_DATE_TIME).substring(0, 16));
        results.environment.put("nproc", Integer.toString(Runtime.getRuntime().availableProcessors()));
        String cpu = "?";
        for (String line : Files.readAllLines(Path.of("/proc/cpuinfo")))
        {
            if (line.startsWith("model name"))
            {
                cpu = line.substring(line.indexOf(':') + 1).trim();
                break;
            }
        }
        results.environment.put("CPU", cpu);
        for (String line : Files.readAllLines(Path.of("/proc/meminfo")))
        {
            if (line.startsWith("MemTotal:"))
                results.environment.put("memory", String.format(Locale.ROOT, "%.1f GiB", Long.parseLong(line.replaceAll("\\D", "")) / 1024.0 / 1024.0));
        }
        results.environment.put("kernel", Files.readString(Path.of("/proc/sys/kernel/osrelease")).trim());
        results.environment.put("java", System.getProperty("java.vm.name") + " " + System.getProperty("java.runtime.version"));
        results.environment.put("jetty", Jetty.VERSION);
        results.environment.put("jetty-itk", productVersion());
        results.environment.put("jetty-itk front", options.frontUser == null ? "root" : "uid " + options.frontUser + " after start (frontUser), workers spawned by the root spawner");
        results.environment.put("wrk", LoadTools.version(LoadTools.WRK));
        results.environment.put("ab", LoadTools.version(LoadTools.AB));
        results.environment.put("server JVM options (plain Jetty, front)", options.serverJvmOptions.isEmpty() ? "JVM defaults" : String.join(" ", options.serverJvmOptions));
        results.environment.put("worker JVM options", options.workerJvmOptions != null ? options.workerJvmOptions : String.join(" ", ItkHandler.DEFAULT_WORKER_JVM_OPTIONS) + " (jetty-itk defaults)");
    }

    /**
     * @return the commit of the measured product code, and whether its sources differ from it
     */
    private static String productVersion()
    {
        try
        {
            Process head = new ProcessBuilder("git", "log", "-1", "--format=%h %cd", "--date=short").redirectErrorStream(true).start();
            String commit = new String(head.getInputStream().readAllBytes()).trim();
            Process status = new ProcessBuilder("git", "status", "--porcelain", "--", "jetty-itk-module/src/main").redirectErrorStream(true).start();
            String changes = new String(status.getInputStream().readAllBytes()).trim();
            if (head.waitFor() != 0 || status.waitFor() != 0)
                return "unknown (not a git work tree)";
            return "commit " + commit + (changes.isEmpty() ? "" : ", with uncommitted changes in jetty-itk-module/src/main");
        }
        catch (IOException | InterruptedException x)
        {
            return "unknown (" + x + ")";
        }
    }

    private List<String> serverCommand(List<String> jvmOptions, String... args)
    {
        List<String> command = new ArrayList<>();
        command.add(java);
        command.addAll(jvmOptions);
        command.add("-cp");
        command.add(classPath);
        command.add(BenchServer.class.getName());
        command.addAll(List.of(args));
        if (options.workerJvmOptions != null && args[0].equals("itk"))
            command.addAll(List.of("--worker-jvm-options", options.workerJvmOptions));
        if (options.frontUser != null && args[0].equals("itk"))
            command.addAll(List.of("--front-user", options.frontUser));
        return command;
    }

    private Path log(String name)
    {
        return runDir.resolve("logs").resolve(name + ".log");
    }

    private void throughput() throws Exception
    {
        try (ServerProcess plain = ServerProcess.start("plain", serverCommand(options.serverJvmOptions, "plain", "--port", "0", "--base", base.resolve("plain").toString()), log("plain"));
             ServerProcess itk = ServerProcess.start("itk", serverCommand(options.serverJvmOptions, "itk", "--port", "0", "--base", base.resolve("itk").toString(),
                 "--vhosts", "1", "--first-uid", Integer.toString(THROUGHPUT_UID)), log("itk")))
        {
            // As on a front that has run for a while, the worker maps the class-data archive trained at start.
            itk.awaitClassArchiveTraining(CLASS_ARCHIVE_TIMEOUT);
            // The first request spawns the worker: the throughput runs measure the pooled worker, not its start.
            for (ServerProcess server : List.of(plain, itk))
            {
                int status = RawHttp.get(server.port(), "127.0.0.1", "/tiny", 120_000);
                if (status != 200)
                    throw new IOException(server + " answered " + status + " to its first request: see " + server.log());
            }
            long worker = itk.workerPids().get(0);
            Thread.sleep(options.settleMillis);
            results.memory.put("plain Jetty, after its first request", ProcStats.memory(plain.pid()));
            results.memory.put("front, after its first request", ProcStats.memory(itk.pid()));
            results.memory.put("worker, after its first request", ProcStats.memory(worker));

            System.out.printf(Locale.ROOT, "Warm-up: %d s per workload and server%n", options.warmup);
            if (options.warmup > 0)
            {
                for (Workload workload : options.workloads)
                {
                    for (ServerProcess server : List.of(plain, itk))
                    {
                        tools.run(workload, server.port(), options.warmup);
                    }
                }
            }

            for (int round = 1; round <= options.rounds; round++)
            {
                System.out.printf(Locale.ROOT, "Round %d/%d%n", round, options.rounds);
                List<ServerProcess> order = round % 2 == 1 ? List.of(plain, itk) : List.of(itk, plain);
                for (Workload workload : options.workloads)
                {
                    for (ServerProcess server : order)
                    {
                        boolean isItk = server == itk;
                        Results.Run run = measure(round, workload, isItk ? Results.ITK : Results.PLAIN, server.port(), server.pid(), isItk ? worker : -1);
                        results.runs.add(run);
                        Measurement m = run.measurement();
                        System.out.printf(Locale.ROOT, "  %-14s %-5s %9.1f req/s  p50 %8.3f ms  p99 %8.3f ms  cpu %6.0f us/req%s%n", workload.id, run.config(),
                            m.requestsPerSecond(), m.p50Ms(), m.p99Ms(), run.cpuMicrosPerRequest(), m.errors() > 0 ? "  ERRORS " + m.errors() : "");
                    }
                }
            }

            Thread.sleep(options.settleMillis);
            results.memory.put("plain Jetty, idle after the load", ProcStats.memory(plain.pid()));
            results.memory.put("front, idle after the load", ProcStats.memory(itk.pid()));
            results.memory.put("worker, idle after the load", ProcStats.memory(worker));
            if (!itk.workerPids().equals(List.of(worker)))
                System.out.println("WARNING: the worker changed during the rounds: " + itk.workerPids() + " instead of " + worker + " (see " + itk.log() + ")");

            if (options.profile)
                profile(plain, itk, worker);
        }
    }

    private Results.Run measure(int round, Workload workload, String config, int port, long pid, long worker) throws Exception
    {
        AtomicReference<Memory> busy = new AtomicReference<>();
        AtomicReference<Memory> workerBusy = new AtomicReference<>();
        ScheduledFuture<?> sample = null;
        if (workload == Workload.PAGE_KA)
        {
            sample = scheduler.schedule(() ->
            {
                busy.set(ProcStats.memory(pid));
                if (worker > 0)
                    workerBusy.set(ProcStats.memory(worker));
            }, options.duration * 500L, TimeUnit.MILLISECONDS);
        }
        Cpu cpu = ProcStats.cpu(pid);
        Cpu workerCpu = worker > 0 ? ProcStats.cpu(worker) : Cpu.NONE;
        Measurement m = tools.run(workload, port, options.duration);
        cpu = ProcStats.cpu(pid).minus(cpu);
        workerCpu = worker > 0 ? ProcStats.cpu(worker).minus(workerCpu) : Cpu.NONE;
        if (sample != null)
            sample.get();
        return new Results.Run(round, workload, config, m, cpu, workerCpu, busy.get(), workerBusy.get());
    }

    private void profile(ServerProcess plain, ServerProcess itk, long worker) throws Exception
    {
        StringBuilder summary = new StringBuilder();
        for (Workload workload : List.of(Workload.TINY_KA, Workload.PAGE_KA))
        {
            System.out.printf(Locale.ROOT, "Profiling %s (JFR, %d s)%n", workload.id, options.duration);
            for (long pid : List.of(itk.pid(), worker))
            {
                Profiler.start(pid);
            }
            tools.run(workload, itk.port(), options.duration);
            Path front = runDir.resolve("front-" + workload.id + ".jfr");
            Path work = runDir.resolve("worker-" + workload.id + ".jfr");
            Profiler.stop(itk.pid(), front);
            Profiler.stop(worker, work);
            Profiler.start(plain.pid());
            tools.run(workload, plain.port(), options.duration);
            Path plainJfr = runDir.resolve("plain-" + workload.id + ".jfr");
            Profiler.stop(plain.pid(), plainJfr);
            summary.append(Profiler.summarize(front, "front, " + workload.id)).append('\n');
            summary.append(Profiler.summarize(work, "worker, " + workload.id)).append('\n');
            summary.append(Profiler.summarize(plainJfr, "plain Jetty, " + workload.id)).append('\n');
        }
        if (Profiler.isPerfInstalled())
        {
            for (Workload workload : List.of(Workload.TINY_KA, Workload.STATIC_KA))
            {
                System.out.printf(Locale.ROOT, "Profiling %s (perf, %d s)%n", workload.id, options.duration);
                summary.append(Profiler.perf(List.of(itk.pid(), worker), List.of("front", "worker"), runDir, workload.id,
                    () -> tools.run(workload, itk.port(), options.duration), options.duration));
                summary.append(Profiler.perf(List.of(plain.pid()), List.of("plain Jetty"), runDir, workload.id,
                    () -> tools.run(workload, plain.port(), options.duration), options.duration));
            }
        }
        results.profile = summary.toString();
    }

    private void coldStartAndMemory() throws Exception
    {
        System.out.printf(Locale.ROOT, "Cold start and memory: a front with %d idle vhosts (uids %d..%d)%n", options.vhosts,
            BenchServer.DEFAULT_FIRST_UID, BenchServer.DEFAULT_FIRST_UID + options.vhosts - 1);
        List<String> workerFlags = options.workerJvmOptions != null ? List.of(options.workerJvmOptions.trim().split("\\s+")) : ItkHandler.DEFAULT_WORKER_JVM_OPTIONS;
        try (ServerProcess front = ServerProcess.start("itk-vhosts", serverCommand(options.serverJvmOptions, "itk", "--port", "0", "--base", base.resolve("itk-vhosts").toString(),
            "--vhosts", Integer.toString(options.vhosts), "--first-uid", Integer.toString(BenchServer.DEFAULT_FIRST_UID)), log("itk-vhosts")))
        {
            front.awaitClassArchiveTraining(CLASS_ARCHIVE_TIMEOUT);
            Thread.sleep(options.settleMillis);
            results.memory.put("front with " + options.vhosts + " vhosts, before any request (no worker)", ProcStats.memory(front.pid()));
            for (int i = 0; i < options.vhosts; i++)
            {
                if (i < options.coldSamples)
                {
                    // A quiet machine for each timed start: the previous JVMs finish their JIT and GC work first.
                    Thread.sleep(options.settleMillis);
                    results.plainStartMillis.add(plainStart(i, options.serverJvmOptions, "plain-start-" + i, true));
                    Thread.sleep(options.settleMillis);
                    results.plainStartWorkerFlagsMillis.add(plainStart(i, workerFlags, "plain-start-worker-flags-" + i, false));
                }
                if (i < options.coldSamples)
                    Thread.sleep(options.settleMillis);
                String host = "v" + (BenchServer.DEFAULT_FIRST_UID + i) + BenchServer.HOST_SUFFIX;
                long start = System.nanoTime();
                int status = RawHttp.get(front.port(), host, "/tiny", 120_000);
                double millis = (System.nanoTime() - start) / 1e6;
                if (status != 200)
                    throw new IOException("vhost " + host + " answered " + status + " to its first request: see " + front.log());
                results.allColdStartMillis.add(millis);
                if (i < options.coldSamples)
                {
                    results.coldStartMillis.add(millis);
                    System.out.printf(Locale.ROOT, "  cold start %d: plain Jetty %.0f ms (worker JVM options: %.0f ms), jetty-itk vhost %.0f ms%n", i + 1,
                        results.plainStartMillis.get(i), results.plainStartWorkerFlagsMillis.get(i), millis);
                }
                if (i == 0)
                {
                    Thread.sleep(options.settleMillis);
                    List<Long> workers = front.workerPids();
                    if (workers.size() == 1)
                        results.memory.put(Report.MEMORY_WORKER_ALONE, ProcStats.memory(workers.get(0)));
                }
            }
            Thread.sleep(options.settleMillis);
            List<Long> workers = front.workerPids();
            for (long pid : workers)
            {
                results.idleWorkers.add(ProcStats.memory(pid));
            }
            results.memory.put(Report.MEMORY_FRONT_WITH_WORKERS, ProcStats.memory(front.pid()));
            System.out.printf(Locale.ROOT, "  %d vhosts hit once: %d workers, median first request %.0f ms%n", options.vhosts, workers.size(), Results.median(results.allColdStartMillis));
            if (workers.size() != options.vhosts)
                System.out.println("WARNING: " + workers.size() + " workers for " + options.vhosts + " vhosts (see " + front.log() + ")");
        }
    }

    /**
     * @return ms from the launch of a plain Jetty JVM with the app until its first response
     */
    private double plainStart(int index, List<String> jvmOptions, String name, boolean sampleMemory) throws Exception
    {
        Path dir = base.resolve("plain-start").resolve(Integer.toString(index) + (sampleMemory ? "" : "w"));
        int port = freePort();
        long start = System.nanoTime();
        try (ServerProcess plain = ServerProcess.launch(name, serverCommand(jvmOptions, "plain", "--port", Integer.toString(port), "--base", dir.toString()), log(name)))
        {
            int status = RawHttp.getWhenListening(port, "127.0.0.1", "/tiny", start + ServerProcess.READY_TIMEOUT.toNanos());
            double millis = (System.nanoTime() - start) / 1e6;
            if (status != 200)
                throw new IOException("plain Jetty answered " + status + " to its first request: see " + plain.log());
            if (sampleMemory)
            {
                Thread.sleep(options.settleMillis);
                results.plainFreshMemory.add(ProcStats.memory(plain.pid()));
            }
            return millis;
        }
    }

    private static int freePort() throws IOException
    {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress()))
        {
            return socket.getLocalPort();
        }
    }

    private static void deleteTree(Path root)
    {
        try (Stream<Path> tree = Files.walk(root))
        {
            for (Path path : tree.sorted(Comparator.reverseOrder()).toList())
            {
                Files.deleteIfExists(path);
            }
        }
        catch (IOException x)
        {
            System.err.println("bench: cannot delete " + root + ": " + x);
        }
    }
}
