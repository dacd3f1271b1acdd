package org.jettyitk.internal.pipe;

import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnixDomainSocketAddress;
import java.util.List;
import java.util.Random;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * <p>The connection-facts header is untrusted input on the worker's side (a forged stream, a front bug) and built
 * from what a proxy said on the front's side ({@code Forwarded}): parsing ends in facts or in an
 * {@link IllegalArgumentException}, never another exception and never a name lookup; an address that is not an IP
 * literal becomes {@code 0.0.0.0:0}, never loopback. Mutation loops print their seed; run again with
 * {@code -Ditk.test.seed=N} to repeat one.</p>
 */
public class ConnectionFactsTest
{
    private static final int MUTATIONS = 20_000;
    private static final List<String> VALID = List.of(
        "v=1;remote=203.0.113.7:51234;local=[2001:db8:0:0:0:0:0:1]:443;secure=true;protocol=HTTP/1.1",
        "v=1;remote=[0:0:0:0:0:0:0:1]:0;local=127.0.0.1:65535;secure=false;protocol=HTTP/2.0",
        "v=1;remote=0.0.0.0:0;local=0.0.0.0:0;secure=false;protocol=HTTP/1.0");
    /** Characters that matter to the format, to IP literals and to InetAddress's lenient parsing. */
    private static final String ALPHABET = "0123456789abcdefABCDEFxX.:;=[]%+- _/\t\r\n\0vremotlcasuphinkwHTP\u00e9\u0660\uff11";

    private static InetSocketAddress address(String literal, int port)
    {
        return new InetSocketAddress(ConnectionFacts.parseLiteral(literal), port);
    }

    private static ConnectionFacts facts(InetSocketAddress remote)
    {
        return new ConnectionFacts(remote, address("192.0.2.1", 443), true, "HTTP/2.0");
    }

    @Test
    public void testFormatAndParseRoundTrip()
    {
        for (InetSocketAddress remote : List.of(address("203.0.113.7", 51234), address("2001:db8::7", 1), address("::1", 0),
            address("255.255.255.255", 65535), ConnectionFacts.UNKNOWN))
        {
            ConnectionFacts facts = facts(remote);
            assertEquals(facts, ConnectionFacts.parse(facts.format()), facts::format);
        }
        assertEquals("v=1;remote=[2001:db8:0:0:0:0:0:7]:1;local=192.0.2.1:443;secure=true;protocol=HTTP/2.0", facts(address("2001:db8::7", 1)).format());
    }

    @Test
    public void testAddressThatIsNotAnIpSocketIsUnknownNeverLoopback()
    {
        ConnectionFacts facts = ConnectionFacts.of(UnixDomainSocketAddress.of("/run/front.sock"), UnixDomainSocketAddress.of(""), false, "HTTP/1.1");

        assertEquals(ConnectionFacts.UNKNOWN, facts.remote());
        assertEquals(ConnectionFacts.UNKNOWN, facts.local());
        assertEquals("v=1;remote=0.0.0.0:0;local=0.0.0.0:0;secure=false;protocol=HTTP/1.1", facts.format());
        assertFalse(facts.remote().getAddress().isLoopbackAddress());
        assertEquals(ConnectionFacts.UNKNOWN, ConnectionFacts.of(null, null, false, "HTTP/1.1").remote());
    }

    /**
     * What Jetty's ForwardedRequestCustomizer makes of a proxy's {@code for=}: an unresolved address holding the
     * proxy's text. Names, {@code unknown}, and the short forms InetAddress reads as 127.0.0.1 are no literal.
     */
    @ParameterizedTest
    @ValueSource(strings = {"evil.example", "localhost", "unknown", "_hidden", "cafe", "dead.beef", "127.1", "2130706433", "0127.0.0.1",
        "0x7f.0.0.1", "127.0.0.1.", "fe80::1%eth0", "[::1", "::1]", "", "256.0.0.1", "1.2..3", "1.2.3.", ".1.2.3", "1.2.3.4.5", "1.2.3.-4",
        "1.2.3.\u0664", "1.2.3.00"})
    public void testForwardedNameIsUnknownNeverLoopback(String host)
    {
        ConnectionFacts facts = ConnectionFacts.of(InetSocketAddress.createUnresolved(host, 4711), address("192.0.2.1", 80), false, "HTTP/1.1");

        assertEquals(ConnectionFacts.UNKNOWN, facts.remote(), host);
        assertEquals(facts, ConnectionFacts.parse(facts.format()));
    }

    @ParameterizedTest
    @ValueSource(strings = {"203.0.113.9", "[2001:db8::9]", "2001:db8::9", "::ffff:198.51.100.2", "0.0.0.0", "255.255.255.255", "10.0.100.249"})
    public void testForwardedLiteralIsKeptWithItsPort(String host) throws Exception
    {
        ConnectionFacts facts = ConnectionFacts.of(InetSocketAddress.createUnresolved(host, 4711), address("192.0.2.1", 80), false, "HTTP/1.1");

        // Literals only: the JDK parses them, without a lookup, as the reference.
        InetAddress expected = InetAddress.getByName(host.replace("[", "").replace("]", ""));
        assertEquals(new InetSocketAddress(expected, 4711), facts.remote());
        assertEquals(facts, ConnectionFacts.parse(facts.format()));
    }

    @Test
    public void testScopedIpv6AddressLosesItsScope() throws Exception
    {
        byte[] linkLocal = ConnectionFacts.parseLiteral("fe80::1").getAddress();
        InetSocketAddress scoped = new InetSocketAddress(Inet6Address.getByAddress(null, linkLocal, 2), 4711);

        ConnectionFacts facts = ConnectionFacts.of(scoped, address("192.0.2.1", 80), false, "HTTP/1.1");

        assertEquals("v=1;remote=[fe80:0:0:0:0:0:0:1]:4711;local=192.0.2.1:80;secure=false;protocol=HTTP/1.1", facts.format());
        assertEquals(facts, ConnectionFacts.parse(facts.format()));
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "v=1;remote=127.1:80;local=127.0.0.1:1;secure=false;protocol=HTTP/1.1",
        "v=1;remote=2130706433:80;local=127.0.0.1:1;secure=false;protocol=HTTP/1.1",
        "v=1;remote=0127.0.0.1:80;local=127.0.0.1:1;secure=false;protocol=HTTP/1.1",
        "v=1;remote=cafe:80;local=127.0.0.1:1;secure=false;protocol=HTTP/1.1",
        "v=1;remote=localhost:80;local=127.0.0.1:1;secure=false;protocol=HTTP/1.1",
        "v=1;remote=::1:80;local=127.0.0.1:1;secure=false;protocol=HTTP/1.1",
        "v=1;remote=[127.0.0.1]:80;local=127.0.0.1:1;secure=false;protocol=HTTP/1.1",
        "v=1;remote=[fe80::1%2]:80;local=127.0.0.1:1;secure=false;protocol=HTTP/1.1",
        "v=1;remote=127.0.0.1:+80;local=127.0.0.1:1;secure=false;protocol=HTTP/1.1",
        "v=1;remote=127.0.0.1:080;local=127.0.0.1:1;secure=false;protocol=HTTP/1.1",
        "v=1;remote=127.0.0.1:65536;local=127.0.0.1:1;secure=false;protocol=HTTP/1.1",
        "v=1;remote=127.0.0.1:99999999999;local=127.0.0.1:1;secure=false;protocol=HTTP/1.1",
        "v=1;remote=127.0.0.1:80;local=127.0.0.1:1;secure=TRUE;protocol=HTTP/1.1",
        "v=1;remote=127.0.0.1:80;local=127.0.0.1:1;secure=false;protocol=HTTP/1.1;",
        "v=2;remote=127.0.0.1:80;local=127.0.0.1:1;secure=false;protocol=HTTP/1.1",
        "v=1;local=127.0.0.1:1;remote=127.0.0.1:80;secure=false;protocol=HTTP/1.1",
        "v=1;remote=127.0.0.1:80;local=127.0.0.1:1;secure=false;protocol=SPDY/3"})
    public void testParseRefusesAnythingButTheCanonicalForm(String value)
    {
        IllegalArgumentException x = assertThrows(IllegalArgumentException.class, () -> ConnectionFacts.parse(value));
        assertTrue(x.getMessage().startsWith(ConnectionFacts.HEADER + " "), x::getMessage);
    }

    @Test
    public void testParseRefusesMissingAndTooLongValues()
    {
        assertEquals("Itk-Connection missing", assertThrows(IllegalArgumentException.class, () -> ConnectionFacts.parse(null)).getMessage());
        String tooLong = VALID.get(0) + " ".repeat(ConnectionFacts.MAX_VALUE_LENGTH);
        assertEquals("Itk-Connection length " + tooLong.length() + " > max 256",
            assertThrows(IllegalArgumentException.class, () -> ConnectionFacts.parse(tooLong)).getMessage());
    }

    @Test
    public void testValueTruncatedSplitOrCutAtEveryByte()
    {
        for (String value : VALID)
        {
            for (int i = 0; i <= value.length(); i++)
            {
                check(value.substring(0, i), "prefix " + i);
                check(value.substring(i), "suffix " + i);
                if (i < value.length())
                {
                    check(value.substring(0, i) + value.substring(i + 1), "without byte " + i);
                    // A header value folded or split in two: whatever lands at the cut.
                    for (String cut : List.of(";", ",", " ", "\r\n", "\0"))
                    {
                        check(value.substring(0, i) + cut + value.substring(i), "'" + cut + "' at " + i);
                    }
                }
            }
        }
    }

    @Test
    public void testSeededMutations()
    {
        long seed = Long.getLong("itk.test.seed", new Random().nextLong());
        System.out.println("ConnectionFactsTest.testSeededMutations seed=" + seed);
        Random random = new Random(seed);
        int parsed = 0;
        for (int i = 0; i < MUTATIONS; i++)
        {
            String value = mutate(random, VALID.get(random.nextInt(VALID.size())));
            if (check(value, "seed=" + seed + " mutation " + i))
                parsed++;
        }
        // Some mutations keep the value valid (a digit for a digit): the loop reached the success path too.
        assertTrue(parsed > 0, "seed=" + seed + ": no mutation parsed");
    }

    @Test
    public void testSeededMutationsOfForwardedAddresses()
    {
        long seed = Long.getLong("itk.test.seed", new Random().nextLong());
        System.out.println("ConnectionFactsTest.testSeededMutationsOfForwardedAddresses seed=" + seed);
        Random random = new Random(seed);
        List<String> hosts = List.of("203.0.113.7", "[2001:db8::1]", "::ffff:10.0.0.1", "fe80::1", "proxy.example");
        for (int i = 0; i < MUTATIONS; i++)
        {
            String host = mutate(random, hosts.get(random.nextInt(hosts.size())));
            String context = "seed=" + seed + " mutation " + i + " host '" + host + "'";
            ConnectionFacts facts;
            try
            {
                facts = ConnectionFacts.of(InetSocketAddress.createUnresolved(host, random.nextInt(65536)), address("192.0.2.1", 80), false, "HTTP/1.1");
            }
            catch (Throwable x)
            {
                throw new AssertionError(context, x);
            }
            assertEquals(facts, ConnectionFacts.parse(facts.format()), context);
            InetAddress remote = facts.remote().getAddress();
            // Only a literal that says loopback gives loopback: 127.x.x.x, ::1, or 127.x.x.x mapped into IPv6 and
            // written in hex (::ffff:7fxx:xxxx).
            if (remote.isLoopbackAddress())
                assertTrue(host.contains("127.") || host.contains("::1") || host.contains(":1") || MAPPED_LOOPBACK.matcher(host).find(),
                    context + " gave " + facts.remote());
        }
    }

    /**
     * @return whether the value parsed; fails the test on any exception but IllegalArgumentException, or on facts
     * that do not format back to facts equal to themselves
     */
    private static boolean check(String value, String context)
    {
        ConnectionFacts facts;
        try
        {
            facts = ConnectionFacts.parse(value);
        }
        catch (IllegalArgumentException x)
        {
            if (x.getMessage() == null || !x.getMessage().startsWith(ConnectionFacts.HEADER + " "))
                fail(context + ": message does not name the header: " + x.getMessage() + " for '" + value + "'", x);
            return false;
        }
        catch (Throwable x)
        {
            throw new AssertionError(context + ": " + x + " for '" + value + "'", x);
        }
        assertEquals(facts, ConnectionFacts.parse(facts.format()), () -> context + ": '" + value + "'");
        return true;
    }

    private static final Pattern MAPPED_LOOPBACK = Pattern.compile("(?i)ffff:7f[0-9a-f]{2}:");

    private static String mutate(Random random, String value)
    {
        StringBuilder text = new StringBuilder(value);
        int mutations = 1 + random.nextInt(4);
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
                case 3 -> text.setLength(at);
                default ->
                {
                    // Duplicate a piece: repeated fields and separators.
                    int end = Math.min(text.length(), at + 1 + random.nextInt(12));
                    text.insert(at, text.substring(at, end));
                }
            }
        }
        return text.toString();
    }
}
