package org.jettyitk.internal.front;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.regex.Pattern;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * <p>Host matching, the rules of the design's "Host matching": case-insensitive (ASCII only), one trailing dot
 * and an IPv6 literal's brackets ignored, exact names before {@code *.domain} wildcards of exactly one label.
 * The host comes from the client: every truncation and seeded mutation of it ends in a value or null, as a
 * reference model of the rules says, never in an exception. Mutation loops print their seed; run again with
 * {@code -Ditk.test.seed=N} to repeat one.</p>
 */
public class HostTableTest
{
    private static final int MUTATIONS = 50_000;
    private static final Map<String, String> EXACT = new LinkedHashMap<>();
    private static final Map<String, String> WILDCARDS = new LinkedHashMap<>();
    private static final List<String> HOSTS = List.of("alice.example.com", "ALICE.Example.COM.", "kate.example.com", "x.bob.example.com",
        "x.y.bob.example.com", "bob.example.com", "127.0.0.1", "[::1]", "::1", "[2001:db8::1]", "carol_test.example", "a-b.example", "*.bob.example.com");
    /** Characters of host names, and those a fold or a lax check could confuse with them. */
    private static final String ALPHABET = "abkABK019.-_:[]*% \t\0\u212a\u0130\u0131\u017f\u00e9\u00c9\uff41";

    static
    {
        EXACT.put("alice.example.com", "alice");
        EXACT.put("kate.example.com", "kate");
        EXACT.put("127.0.0.1", "loopback");
        EXACT.put("::1", "loopback6");
        EXACT.put("2001:db8::1", "doc6");
        EXACT.put("carol_test.example", "carol");
        EXACT.put("a-b.example", "ab");
        WILDCARDS.put("bob.example.com", "bob");
        WILDCARDS.put("example", "any");
    }

    private final HostTable<String> table = new HostTable<>();

    @BeforeEach
    public void fill()
    {
        EXACT.forEach(table::put);
        WILDCARDS.forEach((domain, value) -> table.put("*." + domain, value));
    }

    @Test
    public void testExactNamesIgnoreAsciiCaseOneTrailingDotAndBrackets()
    {
        assertEquals("alice", table.get("alice.example.com"));
        assertEquals("alice", table.get("ALICE.Example.Com"));
        assertEquals("alice", table.get("alice.example.com."));
        assertNull(table.get("alice.example.com.."));
        assertEquals("loopback6", table.get("[::1]"));
        assertEquals("loopback", table.get("127.0.0.1"));
        assertNull(table.get(""));
        assertNull(table.get(null));
    }

    @Test
    public void testWildcardMatchesExactlyOneLabel()
    {
        assertEquals("bob", table.get("www.bob.example.com"));
        assertEquals("bob", table.get("WWW.BOB.example.com."));
        assertNull(table.get("bob.example.com"));
        assertNull(table.get("a.www.bob.example.com"));
        assertNull(table.get(".bob.example.com"));
        // An exact name wins over a wildcard.
        assertEquals("carol", table.get("carol_test.example"));
        assertEquals("any", table.get("dave.example"));
    }

    /**
     * Java's Unicode case folding maps the Kelvin sign to 'k' and the dotted capital I to "i" plus a dot: a
     * host spelt with them must not reach the vhost of the ASCII name.
     */
    @ParameterizedTest
    @ValueSource(strings = {"\u212aate.example.com", "ALİCE.example.com", "alıce.example.com", "www.bob.example.\u212ao", "ａlice.example.com"})
    public void testUnicodeLookalikesMatchNothing(String host)
    {
        assertNull(table.get(host));
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "*", "*.", ".example.com", "a..example.com", "a.*.example.com", "**.example.com", "alice example.com",
        "\u212aate.example.com", "alice.example.com/", "[::1"})
    public void testInvalidNamesAreRefusedWithTheName(String name)
    {
        IllegalArgumentException x = assertThrows(IllegalArgumentException.class, () -> new HostTable<String>().put(name, "x"));
        assertEquals(true, x.getMessage().startsWith("invalid host name '" + name + "'"), x.getMessage());
    }

    @Test
    public void testDuplicateNameReturnsTheFirstValue()
    {
        assertEquals("alice", table.put("Alice.Example.Com.", "other"));
        assertEquals("alice", table.get("alice.example.com"));
        assertEquals("bob", table.put("*.BOB.example.com", "other"));
    }

    @Test
    public void testHostTruncatedOrCutAtEveryByte()
    {
        for (String host : HOSTS)
        {
            for (int i = 0; i <= host.length(); i++)
            {
                check(host.substring(0, i), "prefix " + i);
                check(host.substring(i), "suffix " + i);
                if (i < host.length())
                    check(host.substring(0, i) + host.substring(i + 1), "without byte " + i);
            }
        }
    }

    @Test
    public void testSeededMutations()
    {
        long seed = Long.getLong("itk.test.seed", new Random().nextLong());
        System.out.println("HostTableTest.testSeededMutations seed=" + seed);
        Random random = new Random(seed);
        int matched = 0;
        for (int i = 0; i < MUTATIONS; i++)
        {
            String host = mutate(random, HOSTS.get(random.nextInt(HOSTS.size())));
            if (check(host, "seed=" + seed + " mutation " + i) != null)
                matched++;
        }
        assertEquals(true, matched > 0, "seed=" + seed + ": no mutation matched a vhost");
    }

    /**
     * @return what the table gave, after checking it against the model; any exception fails the test
     */
    private String check(String host, String context)
    {
        String actual;
        try
        {
            actual = table.get(host);
        }
        catch (Throwable x)
        {
            throw new AssertionError(context + ": " + x + " for host '" + host + "'", x);
        }
        assertEquals(model(host), actual, () -> context + ": host '" + host + "'");
        return actual;
    }

    /**
     * The rules, written from the design rather than from the code: fold A-Z, drop one trailing dot and an IPv6
     * literal's brackets; a name with any other character than a-z 0-9 . - _ : matches nothing; else an exact
     * name, else a wildcard whose domain follows exactly one non-empty label.
     */
    private static String model(String host)
    {
        if (host == null || host.isEmpty())
            return null;
        StringBuilder folded = new StringBuilder();
        for (char c : host.toCharArray())
        {
            folded.append(c >= 'A' && c <= 'Z' ? (char)(c + 'a' - 'A') : c);
        }
        String name = folded.toString();
        if (name.endsWith("."))
            name = name.substring(0, name.length() - 1);
        if (name.startsWith("[") && name.endsWith("]"))
            name = name.substring(1, name.length() - 1);
        if (!name.matches("[a-z0-9._:-]*"))
            return null;
        if (EXACT.containsKey(name))
            return EXACT.get(name);
        for (Map.Entry<String, String> wildcard : WILDCARDS.entrySet())
        {
            if (name.matches("[^.]+\\." + Pattern.quote(wildcard.getKey())))
                return wildcard.getValue();
        }
        return null;
    }

    private static String mutate(Random random, String host)
    {
        StringBuilder text = new StringBuilder(host);
        int mutations = 1 + random.nextInt(3);
        for (int m = 0; m < mutations; m++)
        {
            int at = text.length() == 0 ? 0 : random.nextInt(text.length());
            char c = ALPHABET.charAt(random.nextInt(ALPHABET.length()));
            switch (random.nextInt(5))
            {
                case 0 -> text.insert(at, c);
                case 1 ->
                {
                    if (text.length() > 0)
                        text.setCharAt(at, c);
                }
                case 2 ->
                {
                    if (text.length() > 0)
                        text.deleteCharAt(at);
                }
                case 3 ->
                {
                    // Flip the case of a letter: most mutations must still match.
                    if (text.length() > 0)
                    {
                        char letter = text.charAt(at);
                        text.setCharAt(at, Character.isUpperCase(letter) ? Character.toLowerCase(letter) : Character.toUpperCase(letter));
                    }
                }
                default -> text.append('.');
            }
        }
        return text.toString();
    }
}
