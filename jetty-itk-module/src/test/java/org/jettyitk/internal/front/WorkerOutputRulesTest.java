package org.jettyitk.internal.front;

import java.time.Duration;
import java.util.Random;

import org.eclipse.jetty.http.HttpField;
import org.eclipse.jetty.http.HttpFields;
import org.jettyitk.internal.wire.Wire;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * <p>{@link WorkerOutputRules} alone: one rule per test, then a seeded mutation loop over response heads, each
 * judged against an independent statement of the rules (RFC 9110 §5.1 tokens for names; no CR, LF, NUL or
 * character above 0xFF in values), never an exception nor a hang. The rules see fields the HTTP/2 parser already
 * decoded, so there are no bytes to split: the split-at-every-byte runs are {@link WorkerFrameGuardTest}'s and
 * {@code PipeEndPointTest}'s. Run again with {@code -Ditk.seed=<seed>} to replay a failure.</p>
 */
public class WorkerOutputRulesTest
{
    private static final int MUTATIONS = 20_000;
    private static final String TOKEN_CHARACTERS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

    @Test
    public void testValidResponsePasses()
    {
        HttpFields fields = HttpFields.build()
            .add("content-type", "text/html; charset=utf-8")
            .add("set-cookie", "a=b; Path=/; HttpOnly")
            .add("x-latin1", "caf\u00e9\t\u00ff")
            .add("x-empty", "");
        assertNull(WorkerOutputRules.checkResponse(200, fields));
        assertNull(WorkerOutputRules.checkResponse(100, HttpFields.EMPTY));
        assertNull(WorkerOutputRules.checkResponse(599, null));
    }

    @ParameterizedTest
    @ValueSource(ints = {Integer.MIN_VALUE, -1, 0, 99, 600, 1000, Integer.MAX_VALUE})
    public void failsWhenStatusIsOutOfRange(int status)
    {
        assertEquals("status " + status + " outside 100..599", WorkerOutputRules.checkResponse(status, HttpFields.EMPTY));
    }

    @Test
    public void failsWhenStatusIsSwitchingProtocols()
    {
        assertEquals("status 101 not allowed", WorkerOutputRules.checkResponse(101, HttpFields.EMPTY));
    }

    @Test
    public void failsWhenFieldsAreTooMany()
    {
        HttpFields.Mutable fields = HttpFields.build();
        for (int i = 0; i < Wire.MAX_RESPONSE_FIELDS; i++)
        {
            fields.add("x-" + i, "v");
        }
        assertNull(WorkerOutputRules.checkFields(fields));
        fields.add("x-one-more", "v");
        assertEquals("field count 257 > max 256", WorkerOutputRules.checkFields(fields));
    }

    @ParameterizedTest
    @ValueSource(strings = {"x evil", "x\u0000evil", "x:evil", "x\revil", "x\u00e9", "(x)", "x\u0100"})
    public void failsWhenFieldNameHasNonTokenCharacter(String name)
    {
        String message = WorkerOutputRules.checkFields(HttpFields.build().add(new HttpField(name, "v")));
        char bad = name.chars().filter(c -> TOKEN_CHARACTERS.indexOf(c) < 0).mapToObj(c -> (char)c).findFirst().orElseThrow();
        assertTrue(message != null && message.endsWith("has character 0x" + Integer.toHexString(bad)), name + ": " + message);
    }

    @Test
    public void failsWhenFieldNameIsEmpty()
    {
        assertEquals("empty field name", WorkerOutputRules.checkFields(HttpFields.build().add(new HttpField("", "v"))));
    }

    @ParameterizedTest
    @ValueSource(strings = {"a\rb", "a\nb", "a\u0000b", "ok\r\nSet-Cookie: evil=1", "\u20ac"})
    public void failsWhenFieldValueHasForbiddenCharacter(String value)
    {
        char bad = value.chars().filter(c -> c == '\r' || c == '\n' || c == 0 || c > 0xFF).mapToObj(c -> (char)c).findFirst().orElseThrow();
        assertEquals("field 'x-evil' value has character 0x" + Integer.toHexString(bad), WorkerOutputRules.checkFields(HttpFields.build().add("x-evil", value)));
    }

    @Test
    public void testNameInMessageIsEscapedAndCut()
    {
        String name = "\u0001" + "n".repeat(200);
        String message = WorkerOutputRules.checkFields(HttpFields.build().add(new HttpField(name, "v")));
        assertEquals("field name '\\x1" + "n".repeat(63) + "' has character 0x1", message);
    }

    @Test
    public void testMutatedFieldsAreJudgedAsTheRulesSay()
    {
        long seed = Long.getLong("itk.seed", new Random().nextLong());
        System.out.println("WorkerOutputRulesTest mutation seed=" + seed);
        Random random = new Random(seed);
        int[] verdicts = new int[2];
        assertTimeoutPreemptively(Duration.ofSeconds(60), () ->
        {
            for (int iteration = 0; iteration < MUTATIONS; iteration++)
            {
                HttpFields.Mutable fields = HttpFields.build();
                int count = random.nextInt(4);
                for (int i = 0; i < count; i++)
                {
                    fields.add(new HttpField(mutate("x-field-" + i, random), mutate("value " + i, random)));
                }
                int status = random.nextInt(8) == 0 ? random.nextInt(1000) - 100 : 200;
                String where = "seed=" + seed + " iteration=" + iteration + " status=" + status + " fields=" + fields;
                String verdict = WorkerOutputRules.checkResponse(status, fields);
                boolean valid = status >= 100 && status <= 599 && status != 101 && fields.stream().allMatch(WorkerOutputRulesTest::isValid);
                assertEquals(valid, verdict == null, where + ": verdict " + verdict);
                verdicts[valid ? 0 : 1]++;
            }
        }, "seed=" + seed + ": hang");
        assertTrue(verdicts[0] > MUTATIONS / 10 && verdicts[1] > MUTATIONS / 10, "seed=" + seed + ": mutations too mild or too wild: " + verdicts[0] + " valid, " + verdicts[1] + " refused");
    }

    /**
     * The rules, stated apart from the code under test.
     */
    private static boolean isValid(HttpField field)
    {
        String name = field.getName();
        if (name.isEmpty() || !name.chars().allMatch(c -> TOKEN_CHARACTERS.indexOf(c) >= 0))
            return false;
        String value = field.getValue();
        return value == null || value.chars().noneMatch(c -> c == '\r' || c == '\n' || c == 0 || c > 0xFF);
    }

    /**
     * Leaves the text alone half the time, else replaces, inserts or deletes one character (any of the first 512
     * code points, to reach past Latin-1).
     */
    private static String mutate(String text, Random random)
    {
        if (random.nextBoolean())
            return text;
        StringBuilder builder = new StringBuilder(text);
        int at = random.nextInt(builder.length());
        char c = random.nextInt(4) == 0 ? (char)random.nextInt(512) : (char)random.nextInt(128);
        switch (random.nextInt(3))
        {
            case 0 -> builder.setCharAt(at, c);
            case 1 -> builder.insert(at, c);
            default -> builder.deleteCharAt(at);
        }
        return builder.toString();
    }
}
