package org.jettyitk.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import org.jettyitk.bench.ProcStats.Memory;
import org.jettyitk.bench.Results.Run;
import org.jettyitk.bench.Results.Stat;

/**
 * <p>Writes a run's {@link Results}: every load run ({@code runs.tsv}), the medians per workload
 * ({@code summary.tsv}, read by {@link BenchChart}), all of it as JSON ({@code summary.json}), and the tables a
 * person reads ({@code summary.md}, also printed).</p>
 */
public final class Report
{
    public static final String RUNS_TSV = "runs.tsv";
    public static final String SUMMARY_TSV = "summary.tsv";
    public static final String SUMMARY_JSON = "summary.json";
    public static final String SUMMARY_MD = "summary.md";
    public static final String NO_FRESH_WORKER_MODE = "jetty-itk runs with pooled workers (one per vhost, reused); it has no fresh-worker-per-request mode yet, so mpm-itk's fork-per-connection cost is not measured here.";

    private final Results results;
    private final BenchOptions options;

    public Report(Results results, BenchOptions options)
    {
        this.results = results;
        this.options = options;
    }

    public void write(Path dir) throws IOException
    {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve(RUNS_TSV), runsTsv());
        Files.writeString(dir.resolve(SUMMARY_TSV), summaryTsv());
        Files.writeString(dir.resolve(SUMMARY_JSON), json());
        Files.writeString(dir.resolve(SUMMARY_MD), markdown());
    }

    private static String f(String format, Object... args)
    {
        return String.format(Locale.ROOT, format, args);
    }

    private static String mb(Memory memory)
    {
        return memory == null ? "-" : f("%.1f / %.1f", memory.rssMb(), memory.pssMb());
    }

    String runsTsv()
    {
        StringBuilder out = new StringBuilder("round\tworkload\tconfig\ttool\trequests\tseconds\trps\tp50_ms\tp99_ms\terrors\tuser_ms\tsys_ms\tworker_user_ms\tworker_sys_ms\tbusy_rss_kb\tbusy_pss_kb\tworker_busy_rss_kb\tworker_busy_pss_kb\tswitches\tworker_switches\n");
        for (Run run : results.runs)
        {
            LoadTools.Measurement m = run.measurement();
            out.append(f("%d\t%s\t%s\t%s\t%d\t%.3f\t%.1f\t%.3f\t%.3f\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%d\t%d%n", run.round(), run.workload().id, run.config(), m.tool(),
                m.requests(), m.seconds(), m.requestsPerSecond(), m.p50Ms(), m.p99Ms(), m.errors(), run.cpu().userMs(), run.cpu().systemMs(),
                run.workerCpu().userMs(), run.workerCpu().systemMs(),
                run.busy() == null ? "" : run.busy().rssKb(), run.busy() == null ? "" : run.busy().pssKb(),
                run.workerBusy() == null ? "" : run.workerBusy().rssKb(), run.workerBusy() == null ? "" : run.workerBusy().pssKb(),
                run.cpu().switches(), run.workerCpu().switches()));
        }
        return out.toString();
    }

    public static final String SUMMARY_TSV_HEADER = "workload\tdescription\tcontent\tmode\tplain_rps\titk_rps\tratio\tplain_p50_ms\titk_p50_ms\tplain_p99_ms\titk_p99_ms\tplain_cpu_us\titk_cpu_us\tplain_errors\titk_errors\ttarget";

    String summaryTsv()
    {
        StringBuilder out = new StringBuilder(SUMMARY_TSV_HEADER).append('\n');
        for (Workload workload : options.workloads)
        {
            Stat plain = results.stat(workload, Results.PLAIN);
            Stat itk = results.stat(workload, Results.ITK);
            if (plain == null || itk == null)
                continue;
            Double target = Results.target(workload);
            out.append(f("%s\t%s\t%s\t%s\t%.1f\t%.1f\t%.4f\t%.3f\t%.3f\t%.3f\t%.3f\t%.1f\t%.1f\t%d\t%d\t%s%n", workload.id, workload.describe(options.connections),
                workload.content, workload.mode(options.connections),
                plain.rps(), itk.rps(), itk.rps() / plain.rps(), plain.p50Ms(), itk.p50Ms(), plain.p99Ms(), itk.p99Ms(),
                plain.cpuMicrosPerRequest(), itk.cpuMicrosPerRequest(), plain.errors(), itk.errors(), target == null ? "-" : f("%.1f", target)));
        }
        return out.toString();
    }

    /**
     * @return the tables of the run, in Markdown (the console prints the same)
     */
    public String markdown()
    {
        StringBuilder out = new StringBuilder();
        out.append("## Machine and versions\n\n");
        for (Map.Entry<String, String> e : results.environment.entrySet())
        {
            out.append("- ").append(e.getKey()).append(": ").append(e.getValue()).append('\n');
        }
        out.append(f("- settings: %d rounds, %d s per load run, %d s warm-up, wrk -t%d -c%d; ab -c 1 without keep-alive%n",
            options.rounds, options.duration, options.warmup, options.threads, options.connections));
        out.append("- ").append(NO_FRESH_WORKER_MODE).append("\n\n");

        out.append("## Throughput and latency (medians of the rounds)\n\n");
        out.append("| workload | plain Jetty req/s | jetty-itk req/s | itk / plain | p50 ms plain / itk | p99 ms plain / itk | CPU µs/req plain / itk | target |\n");
        out.append("|---|--:|--:|--:|--:|--:|--:|---|\n");
        for (Workload workload : options.workloads)
        {
            Stat plain = results.stat(workload, Results.PLAIN);
            Stat itk = results.stat(workload, Results.ITK);
            if (plain == null || itk == null)
                continue;
            double ratio = itk.rps() / plain.rps();
            Double target = Results.target(workload);
            String errors = plain.errors() + itk.errors() > 0 ? f(" (errors: plain %d, itk %d)", plain.errors(), itk.errors()) : "";
            out.append(f("| %s%s | %.0f | %.0f | **%.2f** | %s / %s | %s / %s | %.0f / %.0f | %s |%n", workload.describe(options.connections), errors,
                plain.rps(), itk.rps(), ratio, ms(plain.p50Ms()), ms(itk.p50Ms()), ms(plain.p99Ms()), ms(itk.p99Ms()),
                plain.cpuMicrosPerRequest(), itk.cpuMicrosPerRequest(),
                target == null ? "" : f("≥ %.1f: %s", target, ratio >= target ? "met" : "**missed**")));
        }
        out.append("\nCPU µs/req: user + system CPU time of the server processes (plain Jetty; front + worker) per request, load generator excluded.\n\n");
        out.append("### Where the CPU goes (µs per request, medians; user + system)\n\n");
        out.append("| workload | plain Jetty | jetty-itk front | jetty-itk worker | thread switches per request: plain / front + worker |\n|---|--:|--:|--:|--:|\n");
        for (Workload workload : options.workloads)
        {
            Stat plain = results.stat(workload, Results.PLAIN);
            Stat itk = results.stat(workload, Results.ITK);
            if (plain == null || itk == null)
                continue;
            out.append(f("| %s | %.0f + %.0f | %.0f + %.0f | %.0f + %.0f | %.1f / %.1f + %.1f |%n", workload.describe(options.connections), plain.userUs(), plain.systemUs(),
                itk.userUs(), itk.systemUs(), itk.workerUserUs(), itk.workerSystemUs(), plain.switches(), itk.switches(), itk.workerSwitches()));
        }
        out.append("\n");

        if (!results.coldStartMillis.isEmpty())
        {
            double plain = Results.median(results.plainStartMillis);
            double plainWorkerFlags = Results.median(results.plainStartWorkerFlagsMillis);
            double cold = Results.median(results.coldStartMillis);
            out.append("## Cold start (medians)\n\n");
            out.append("| what | ms | samples |\n|---|--:|--:|\n");
            out.append(f("| plain embedded Jetty: JVM launch to first response (server JVM options) | %.0f | %s |%n", plain, list(results.plainStartMillis)));
            out.append(f("| plain embedded Jetty: same, with the worker's JVM options | %.0f | %s |%n", plainWorkerFlags, list(results.plainStartWorkerFlagsMillis)));
            out.append(f("| jetty-itk: first request to an idle vhost until its response | %.0f | %s |%n", cold, list(results.coldStartMillis)));
            out.append(f("| jetty-itk: the same, over all %d vhosts of the memory phase | %.0f | min %.0f, max %.0f |%n", results.allColdStartMillis.size(),
                Results.median(results.allColdStartMillis), results.allColdStartMillis.stream().mapToDouble(d -> d).min().orElse(0),
                results.allColdStartMillis.stream().mapToDouble(d -> d).max().orElse(0)));
            out.append(f("%nCold start / plain start: **%.2f** (target ≤ %.1f: %s); against plain Jetty with the worker's JVM options: %.2f.%n%n",
                cold / plain, Results.TARGET_COLD_START, cold / plain <= Results.TARGET_COLD_START ? "met" : "**missed**", cold / plainWorkerFlags));
        }

        out.append("## Memory (MB, RSS / PSS)\n\n| process | RSS / PSS |\n|---|--:|\n");
        for (Map.Entry<String, Memory> e : results.memory.entrySet())
        {
            out.append("| ").append(e.getKey()).append(" | ").append(mb(e.getValue())).append(" |\n");
        }
        for (String config : List.of(Results.PLAIN, Results.ITK))
        {
            Memory busy = results.busy(config, false);
            if (busy != null)
                out.append("| ").append(config.equals(Results.PLAIN) ? "plain Jetty" : "front").append(", busy (middle of the 75 KB page run, median) | ").append(mb(busy)).append(" |\n");
        }
        Memory workerBusy = results.busy(Results.ITK, true);
        if (workerBusy != null)
            out.append("| worker, busy (middle of the 75 KB page run, median) | ").append(mb(workerBusy)).append(" |\n");
        if (!results.plainFreshMemory.isEmpty())
            out.append("| plain Jetty JVM just started, after 1 request (median) | ").append(mb(Results.medianOf(results.plainFreshMemory))).append(" |\n");
        if (!results.idleWorkers.isEmpty())
        {
            Memory median = Results.medianOf(results.idleWorkers);
            Memory total = Results.sum(results.idleWorkers);
            out.append("| idle worker among ").append(results.idleWorkers.size()).append(", after 1 request (median) | ").append(mb(median)).append(" |\n");
            out.append("| **all ").append(results.idleWorkers.size()).append(" idle workers, sum** | ").append(mb(total)).append(" |\n");
            Memory front = results.memory.get(MEMORY_FRONT_WITH_WORKERS);
            if (front != null)
                out.append("| **front + all ").append(results.idleWorkers.size()).append(" workers, sum** | ").append(mb(total.plus(front))).append(" |\n");
            out.append(f("%nIdle worker PSS (median among %d): **%.1f MB** (target < %.0f MB: %s).%n", results.idleWorkers.size(), median.pssMb(),
                Results.TARGET_IDLE_WORKER_PSS_MB, median.pssMb() < Results.TARGET_IDLE_WORKER_PSS_MB ? "met" : "**missed**"));
            Memory alone = results.memory.get(MEMORY_WORKER_ALONE);
            if (alone != null)
                out.append(f("The first worker, while it was the only one: PSS %.1f MB (shared pages divided among fewer processes).%n", alone.pssMb()));
        }
        return out.toString();
    }

    public static final String MEMORY_FRONT_WITH_WORKERS = "front, with all idle workers of the memory phase";
    public static final String MEMORY_WORKER_ALONE = "first idle worker of the memory phase, while it was the only worker";

    private static String ms(double value)
    {
        return value < 10 ? f("%.2f", value) : f("%.0f", value);
    }

    private static String list(List<Double> values)
    {
        return String.join(", ", values.stream().map(v -> f("%.0f", v)).toList());
    }

    String json()
    {
        StringBuilder out = new StringBuilder("{\n  \"environment\": {");
        String sep = "\n";
        for (Map.Entry<String, String> e : results.environment.entrySet())
        {
            out.append(sep).append("    ").append(quote(e.getKey())).append(": ").append(quote(e.getValue()));
            sep = ",\n";
        }
        out.append("\n  },\n");
        out.append(f("  \"settings\": {\"rounds\": %d, \"duration_s\": %d, \"warmup_s\": %d, \"threads\": %d, \"connections\": %d},%n",
            options.rounds, options.duration, options.warmup, options.threads, options.connections));
        out.append("  \"note\": ").append(quote(NO_FRESH_WORKER_MODE)).append(",\n");
        out.append("  \"throughput\": [");
        sep = "\n";
        for (Workload workload : options.workloads)
        {
            Stat plain = results.stat(workload, Results.PLAIN);
            Stat itk = results.stat(workload, Results.ITK);
            if (plain == null || itk == null)
                continue;
            Double target = Results.target(workload);
            out.append(sep).append(f("    {\"workload\": %s, \"description\": %s, \"ratio\": %.4f, \"target\": %s, \"plain\": %s, \"itk\": %s}",
                quote(workload.id), quote(workload.describe(options.connections)), itk.rps() / plain.rps(), target == null ? "null" : target, json(plain), json(itk)));
            sep = ",\n";
        }
        out.append("\n  ],\n");
        out.append("  \"cold_start_ms\": {\"plain\": ").append(numbers(results.plainStartMillis))
            .append(", \"plain_worker_jvm_options\": ").append(numbers(results.plainStartWorkerFlagsMillis))
            .append(", \"itk\": ").append(numbers(results.coldStartMillis))
            .append(", \"itk_all_vhosts\": ").append(numbers(results.allColdStartMillis)).append("},\n");
        out.append("  \"memory_kb\": {");
        sep = "\n";
        for (Map.Entry<String, Memory> e : results.memory.entrySet())
        {
            out.append(sep).append("    ").append(quote(e.getKey())).append(": ").append(json(e.getValue()));
            sep = ",\n";
        }
        for (String config : List.of(Results.PLAIN, Results.ITK))
        {
            Memory busy = results.busy(config, false);
            if (busy != null)
            {
                out.append(sep).append("    ").append(quote(config + " busy")).append(": ").append(json(busy));
                sep = ",\n";
            }
        }
        Memory workerBusy = results.busy(Results.ITK, true);
        if (workerBusy != null)
            out.append(sep).append("    \"worker busy\": ").append(json(workerBusy));
        out.append("\n  },\n");
        out.append("  \"plain_fresh_memory_kb\": [").append(String.join(", ", results.plainFreshMemory.stream().map(Report::json).toList())).append("],\n");
        out.append("  \"idle_workers_memory_kb\": [").append(String.join(", ", results.idleWorkers.stream().map(Report::json).toList())).append("]\n");
        out.append("}\n");
        return out.toString();
    }

    private static String json(Stat stat)
    {
        return f("{\"tool\": %s, \"runs\": %d, \"rps\": %.1f, \"p50_ms\": %.3f, \"p99_ms\": %.3f, \"errors\": %d, \"cpu_us_per_request\": %.1f, \"user_us\": %.1f, \"sys_us\": %.1f, \"worker_user_us\": %.1f, \"worker_sys_us\": %.1f}",
            quote(stat.tool()), stat.runs(), stat.rps(), stat.p50Ms(), stat.p99Ms(), stat.errors(), stat.cpuMicrosPerRequest(),
            stat.userUs(), stat.systemUs(), stat.workerUserUs(), stat.workerSystemUs());
    }

    private static String json(Memory memory)
    {
        return f("{\"rss\": %d, \"pss\": %d}", memory.rssKb(), memory.pssKb());
    }

    private static String numbers(List<Double> values)
    {
        return "[" + String.join(", ", values.stream().map(v -> f("%.1f", v)).toList()) + "]";
    }

    private static String quote(String text)
    {
        StringBuilder out = new StringBuilder("\"");
        for (char c : text.toCharArray())
        {
            switch (c)
            {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\t' -> out.append("\\t");
                default ->
                {
                    if (c < 0x20)
                        out.append(f("\\u%04x", (int)c));
                    else
                        out.append(c);
                }
            }
        }
        return out.append('"').toString();
    }
}
