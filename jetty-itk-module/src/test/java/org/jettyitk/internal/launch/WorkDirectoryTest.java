package org.jettyitk.internal.launch;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

public class WorkDirectoryTest
{
    @Test
    public void testHomeNameKeepsPlainNames()
    {
        assertEquals("vhost-alice.example-1", WorkDirectory.homeName("alice.example-1"));
    }

    @Test
    public void testHomeNameEscapesEveryOtherByte()
    {
        assertEquals("vhost-a_20b", WorkDirectory.homeName("a b"));
        assertEquals("vhost-a_5fb", WorkDirectory.homeName("a_b"));
        assertEquals("vhost-_2f..", WorkDirectory.homeName("/.."));
        assertEquals("vhost-caf_c3_a9", WorkDirectory.homeName("caf\u00e9"));
    }

    /**
     * Seeded: names over a small alphabet that holds the escape character, so that collisions would show.
     */
    @Test
    public void testHomeNameIsInjective()
    {
        long seed = new Random().nextLong();
        Random random = new Random(seed);
        List<Character> alphabet = List.of('a', '_', ' ', '5', 'f', '2', '0', '.', '-', '/');
        Map<String, String> names = new HashMap<>();
        for (int i = 0; i < 20000; i++)
        {
            StringBuilder name = new StringBuilder();
            int length = 1 + random.nextInt(6);
            for (int j = 0; j < length; j++)
            {
                name.append(alphabet.get(random.nextInt(alphabet.size())));
            }
            String home = WorkDirectory.homeName(name.toString());
            String previous = names.putIfAbsent(home, name.toString());
            assertTrue(previous == null || previous.equals(name.toString()), () -> "seed " + seed + ": '" + previous + "' and '" + name + "' both map to " + home);
            assertTrue(home.matches("vhost-[A-Za-z0-9._-]+"), home);
        }
    }
}
