package org.jettyitk;

import java.util.concurrent.atomic.AtomicLong;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

public class UnavailableWarningsTest
{
    @Test
    public void testOneWarningPerIntervalCountingTheRequestsNotLogged()
    {
        AtomicLong now = new AtomicLong(1_000);
        ItkHandler.UnavailableWarnings warnings = new ItkHandler.UnavailableWarnings(now::get, 100);

        assertEquals(0, warnings.next());
        for (int i = 0; i < 5; i++)
        {
            now.addAndGet(10);
            assertEquals(-1, warnings.next());
        }
        now.addAndGet(50);
        assertEquals(5, warnings.next());
        now.addAndGet(99);
        assertEquals(-1, warnings.next());
        now.addAndGet(1);
        assertEquals(1, warnings.next());
    }
}
