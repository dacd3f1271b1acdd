package org.jettyitk.bench;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * <p>Checks that the benchmark still runs end to end, for about a second of load: both servers start, the
 * worker serves, wrk's output is read, the summary and the chart are written. It asserts no timing: benchmarks
 * are not tests.</p>
 */
public class BenchSmokeTest
{
    @Test
    @Timeout(60)
    public void testQuickRun(@TempDir Path results) throws Exception
    {
        Assumptions.assumeTrue(ProcStats.uid(ProcessHandle.current().pid()) == 0, "needs root: the benchmark's workers run as numeric uid 42100");
        Assumptions.assumeTrue(LoadTools.isInstalled(LoadTools.WRK) && LoadTools.isInstalled(LoadTools.AB),
            "needs wrk and ab: apt-get update && apt-get install -y wrk apache2-utils");

        BenchOptions options = BenchOptions.parse(new String[] {"--rounds", "1", "--duration", "1", "--warmup", "0",
            "--workloads", "tiny-ka", "--no-cold-memory", "--settle-ms", "100", "--results", results.toString()});
        assertEquals(0, BenchRunner.run(options));

        List<String> summary = Files.readAllLines(results.resolve(Report.SUMMARY_TSV));
        assertEquals(Report.SUMMARY_TSV_HEADER, summary.get(0));
        assertEquals(2, summary.size(), "one row: " + summary);
        String[] row = summary.get(1).split("\t");
        assertEquals("tiny-ka", row[0]);
        List<String> header = List.of(Report.SUMMARY_TSV_HEADER.split("\t"));
        assertTrue(Double.parseDouble(row[header.indexOf("plain_rps")]) > 0, "plain Jetty served requests: " + summary.get(1));
        assertTrue(Double.parseDouble(row[header.indexOf("itk_rps")]) > 0, "jetty-itk served requests: " + summary.get(1));
        assertEquals("0", row[header.indexOf("plain_errors")], "plain Jetty errors: " + summary.get(1));
        assertEquals("0", row[header.indexOf("itk_errors")], "jetty-itk errors: " + summary.get(1));
        assertTrue(Files.size(results.resolve(BenchChart.FILE_NAME)) > 0, "chart written");
    }
}
