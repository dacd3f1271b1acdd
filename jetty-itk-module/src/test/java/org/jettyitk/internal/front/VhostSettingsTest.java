package org.jettyitk.internal.front;

import java.time.Duration;

import org.jettyitk.ItkHandler;
import org.jettyitk.VirtualHost;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * <p>A vhost's settings take the vhost's own values, else the handler's: one object, resolved once.</p>
 */
public class VhostSettingsTest
{
    @Test
    public void testUnsetValuesTakeTheHandlers()
    {
        ItkHandler itk = new ItkHandler();
        itk.setMaxWorkersPerVirtualHost(4);
        itk.setIdleTimeoutMillis(1234);
        itk.setMaxWebSocketsPerVirtualHost(7);
        itk.setCrashLimit(5);
        itk.setMinCrashBackoffMillis(10);
        itk.setMaxCrashBackoffMillis(20);
        itk.setSweepIntervalMillis(50);

        VhostSettings settings = VhostSettings.of(new VirtualHost("alice"), itk);

        assertEquals("alice", settings.vhost());
        assertEquals(4, settings.maxWorkers());
        assertEquals(Duration.ofMillis(1234), settings.idleTimeout());
        assertEquals(7, settings.maxWebSockets());
        assertEquals(5, settings.crashLimit());
        assertEquals(Duration.ofMillis(10), settings.minCrashBackoff());
        assertEquals(Duration.ofMillis(20), settings.maxCrashBackoff());
        assertEquals(Duration.ofMillis(50), settings.sweepInterval());
        assertEquals(VhostSettings.DEFAULT_MAX_REQUESTS, settings.maxRequests());
        assertEquals(VhostSettings.DEFAULT_CRASH_INTERVAL, settings.crashInterval());
    }

    @Test
    public void testVirtualHostValuesWin()
    {
        ItkHandler itk = new ItkHandler();
        itk.setMaxWorkersPerVirtualHost(4);
        itk.setRequestTimeoutMillis(9000);
        VirtualHost alice = new VirtualHost("alice");
        alice.setMaxWorkers(2);
        alice.setRequestTimeoutMillis(0);
        alice.setMaxWebSockets(0);

        VhostSettings settings = VhostSettings.of(alice, itk);

        assertEquals(2, settings.maxWorkers());
        assertEquals(Duration.ZERO, settings.requestTimeout());
        assertEquals(0, settings.maxWebSockets());
    }

    @Test
    public void failsWhenMaxCrashBackoffIsBelowMin()
    {
        ItkHandler itk = new ItkHandler();
        itk.setMinCrashBackoffMillis(5000);
        itk.setMaxCrashBackoffMillis(1000);

        IllegalArgumentException x = assertThrows(IllegalArgumentException.class, () -> VhostSettings.of(new VirtualHost("alice"), itk));

        assertEquals("vhost 'alice': maxCrashBackoffMillis < 5000: 1000", x.getMessage());
    }

    @Test
    public void failsWhenAResolvedValueIsOutOfRange()
    {
        IllegalArgumentException x = assertThrows(IllegalArgumentException.class, () -> new VhostSettings("bob", 0, 1, 1, Duration.ofSeconds(1), Duration.ZERO, 0,
            Duration.ZERO, Duration.ZERO, 0, Duration.ofSeconds(1), Duration.ZERO, Duration.ZERO, Duration.ZERO, 1, 1,
            1, Duration.ofSeconds(1), Duration.ofSeconds(1), Duration.ofSeconds(1), Duration.ofSeconds(1)));

        assertEquals("vhost 'bob': maxWorkers < 1: 0", x.getMessage());
    }
}
