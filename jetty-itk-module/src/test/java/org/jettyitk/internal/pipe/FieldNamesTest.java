package org.jettyitk.internal.pipe;

import java.nio.charset.Charset;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import org.eclipse.jetty.http.HttpField;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpParser;
import org.eclipse.jetty.http.MimeTypes;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * <p>What HTTP/2 loses of field names between front and worker, restored: each rule of {@link FieldNames}, and
 * that a worker's list can change nothing but the case of a name.</p>
 */
public class FieldNamesTest
{
    private static List<String> names(HttpFields fields)
    {
        return fields.stream().map(HttpField::getName).toList();
    }

    /**
     * @return the fields as HPACK delivers them: lower-case names
     */
    private static HttpFields.Mutable overHttp2(HttpFields fields)
    {
        HttpFields.Mutable lowered = HttpFields.build();
        for (HttpField field : fields)
        {
            lowered.add(new HttpField(field.getHeader(), field.getLowerCaseName(), field.getValue()));
        }
        return lowered;
    }

    @Test
    public void testNamesListsOnlyNamesThatAreNotLowerCaseOnce()
    {
        HttpFields original = HttpFields.build().add("X-Tenant", "a").add("x-lower", "b").add("x-tenant", "c").add("Accept", "d");
        HttpFields.Mutable sent = HttpFields.build(original);
        FieldNames.addNames(original, sent);
        assertEquals("X-Tenant,Accept", sent.get(FieldNames.NAMES));
    }

    @Test
    public void testRequestRoundTripRestoresNamesAndHostAndDropsPrivateFields()
    {
        HttpFields.Mutable sent = HttpFields.build()
            .add(FieldNames.HOST, "Alice.Test:8080")
            .add("X-MiXeD", "1")
            .add("x-lower", "2");
        FieldNames.addNames(HttpFields.build().add("Host", "Alice.Test:8080").add("X-MiXeD", "1").add("x-lower", "2"), sent);

        HttpFields restored = FieldNames.restoreRequest(overHttp2(sent), false);

        assertEquals(List.of("Host", "X-MiXeD", "x-lower"), names(restored));
        assertEquals("Alice.Test:8080", restored.get(HttpHeader.HOST));
    }

    @Test
    public void testHttp1ClientGetsTheParsersCachedContentType()
    {
        HttpFields fields = HttpFields.build()
            .add("content-type", "application/x-www-form-urlencoded; charset=iso-8859-1")
            .add(FieldNames.NAMES, "Content-Type");

        HttpField http1 = FieldNames.restoreRequest(fields, true).getField(HttpHeader.CONTENT_TYPE);
        HttpField http2 = FieldNames.restoreRequest(fields, false).getField(HttpHeader.CONTENT_TYPE);

        // The parser's own instance, whose type says its charset (Jetty 12.1.5's form decoding reads only that);
        // an HTTP/2 client's field stays as HPACK decoded it, as on a plain Jetty.
        assertSame(HttpParser.CACHE.get("Content-Type: application/x-www-form-urlencoded; charset=iso-8859-1"), http1);
        assertEquals("ISO-8859-1", charsetOf(http1));
        assertEquals("Content-Type", http1.getName());
        assertNotSame(http1, http2);
        assertSame(HttpField.class, http2.getClass());
    }

    /**
     * @return the charset Jetty's form decoding takes from a Content-Type field: its type's, else UTF-8
     */
    private static String charsetOf(HttpField contentType)
    {
        MimeTypes.Type type = MimeTypes.getMimeTypeFromContentType(contentType);
        Charset charset = type == null ? null : type.getCharset();
        return charset == null ? "UTF-8" : charset.name();
    }

    @Test
    public void testWorkerListChangesOnlyTheCaseOfNames()
    {
        // A worker is untrusted: a name that is no token, or whose ASCII lower case is another name, changes nothing.
        HttpFields worker = HttpFields.build()
            .add("x-secret", "v")
            .add("x-other", "w")
            .add(FieldNames.NAMES, "X-\u017Fecret,X-Other\r\nInjected: 1,X-OTHER,:status,X Space");
        Map<String, String> names = FieldNames.names(worker);

        assertNull(names.get("x-secret"), names::toString);
        assertEquals("X-OTHER", names.get("x-other"));
        assertFalse(names.containsKey(":status"));
        HttpField secret = worker.getField("x-secret");
        assertSame(secret, FieldNames.restore(secret, names));
        assertEquals("X-OTHER", FieldNames.restore(worker.getField("x-other"), names).getName());
    }

    @Test
    public void testSeveralListsKeepTheFirstSpellingWhetherParsedOrKept()
    {
        HttpFields first = HttpFields.build().add("x-a", "1").add(FieldNames.NAMES, "X-A").add(FieldNames.NAMES, "x-B,x-a");
        HttpFields alone = HttpFields.build().add("x-a", "1").add(FieldNames.NAMES, "X-A");
        String longName = "X-" + "Long".repeat(FieldNames.MAX_PARSED_LENGTH / 4);
        HttpFields longList = HttpFields.build().add(FieldNames.NAMES, "X-A," + longName);

        for (int round = 0; round < 2; round++)
        {
            // The second round reads the lists kept parsed: merging two must not change what one of them says.
            assertEquals(Map.of("x-a", "X-A", "x-b", "x-B"), FieldNames.names(first));
            assertEquals(Map.of("x-a", "X-A"), FieldNames.names(alone));
            assertEquals(Map.of("x-a", "X-A", longName.toLowerCase(Locale.ROOT), longName), FieldNames.names(longList));
        }
    }

    @Test
    public void testListsOfWorkersNeverGrowTheParsedCacheBeyondItsBound()
    {
        // A hostile worker (or client) sends a new itk-names value with every message: the cache, shared by every
        // vhost of the front, starts over at its bound instead of growing, and each value is still parsed right.
        for (int i = 0; i < 4 * FieldNames.MAX_PARSED; i++)
        {
            String name = "X-Flood-" + i;
            HttpFields fields = HttpFields.build().add(FieldNames.NAMES, name + ",X-Other");
            assertEquals(Map.of(name.toLowerCase(Locale.ROOT), name, "x-other", "X-Other"), FieldNames.names(fields));
            assertTrue(FieldNames.parsedCount() <= FieldNames.MAX_PARSED, () -> FieldNames.parsedCount() + " values kept parsed");
        }
        // A value over the longest kept is parsed and not kept.
        int before = FieldNames.parsedCount();
        String longName = "X-" + "Long".repeat(FieldNames.MAX_PARSED_LENGTH);
        assertEquals(Map.of(longName.toLowerCase(Locale.ROOT), longName), FieldNames.names(HttpFields.build().add(FieldNames.NAMES, longName)));
        assertEquals(before, FieldNames.parsedCount());
    }

    @Test
    public void testPrivateNames()
    {
        assertTrue(FieldNames.isPrivate("itk-names"));
        assertTrue(FieldNames.isPrivate("itk-host"));
        assertFalse(FieldNames.isPrivate("itk-other"));
    }
}
