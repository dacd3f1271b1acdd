package org.jettyitk.tests;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * <p>The attack: a front started from an admin's terminal; tenant code opens {@code /dev/tty} and pushes
 * keystrokes into it with {@code ioctl(TIOCSTI)}, which the admin's root shell runs once the server stops. A
 * worker starts in a session of its own, with no controlling terminal: there is no terminal to open.</p>
 */
public class TerminalTest
{
    private static final String SCRIPT = "/usr/bin/script";
    /** The front's JVM, its worker's and a request: a hang guard. */
    private static final long TIMEOUT_SECONDS = 180;

    @Test
    public void testTenantFindsNoTerminalWhenTheFrontHasOne() throws Exception
    {
        Assumptions.assumeTrue(ItkTestServer.isRoot(), "needs root: the worker runs as numeric uid 41001");
        Assumptions.assumeTrue(Files.isExecutable(Path.of(SCRIPT)), "needs util-linux's script to give the front a terminal");
        String java = ProcessHandle.current().info().command().orElseThrow();
        String command = quote(java) + " -cp " + quote(System.getProperty("java.class.path")) + " " + TerminalAttack.class.getName();
        // script: a new pseudo-terminal, the controlling terminal of the command it runs.
        Process process = new ProcessBuilder(SCRIPT, "-qfec", command, "/dev/null").redirectErrorStream(true).start();
        process.getOutputStream().close();
        CompletableFuture<String> output = CompletableFuture.supplyAsync(() -> readAll(process));
        assertTrue(process.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS), "the front under script did not exit");
        String text = output.get(TIMEOUT_SECONDS, TimeUnit.SECONDS);

        Map<String, String> front = facts(text, "probe:front ");
        Map<String, String> worker = facts(text, "probe:worker ");
        assertTrue(front.containsKey("tty_nr") && !front.get("tty_nr").equals("0"), () -> "the front has no terminal: the attack was not set up\n" + text);
        assertEquals("200", worker.get("status"), text);
        assertEquals("0", worker.get("tty_nr"), text);
        assertEquals(worker.get("pid"), worker.get("session"), "the worker leads a session of its own");
        assertEquals(worker.get("pid"), worker.get("pgrp"), "the worker leads a process group of its own");
        assertNotEquals(front.get("session"), worker.get("session"));
        assertNotEquals(front.get("pgrp"), worker.get("pgrp"));
        assertEquals("ENXIO", worker.get("tty"), text);
        for (String fd : List.of("0", "1", "2"))
        {
            assertEquals("ENOTTY", worker.get(fd), text);
        }
        assertEquals(null, worker.get("ctty"), text);
    }

    private static String readAll(Process process)
    {
        try
        {
            return new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        }
        catch (IOException x)
        {
            throw new IllegalStateException(x);
        }
    }

    /**
     * @return the {@code key=value} words of the lines that start with the prefix
     */
    private static Map<String, String> facts(String text, String prefix)
    {
        Map<String, String> facts = new HashMap<>();
        for (String line : text.split("\r?\n"))
        {
            // A keystroke the tenant pushed into the terminal may precede the prefix.
            int start = line.indexOf(prefix);
            if (start < 0)
                continue;
            for (String word : line.substring(start + prefix.length()).trim().split(" "))
            {
                int equals = word.indexOf('=');
                if (equals > 0)
                    facts.put(word.substring(0, equals), word.substring(equals + 1));
            }
        }
        return facts;
    }

    private static String quote(String word)
    {
        return "'" + word.replace("'", "'\\''") + "'";
    }
}
