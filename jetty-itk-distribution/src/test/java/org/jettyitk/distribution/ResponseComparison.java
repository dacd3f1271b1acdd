package org.jettyitk.distribution;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.zip.GZIPInputStream;

import org.eclipse.jetty.client.ContentResponse;
import org.eclipse.jetty.http.HttpField;
import org.jettyitk.distribution.WireExchange.Field;
import org.jettyitk.distribution.WireExchange.Head;
import org.jettyitk.distribution.WireExchange.Response;

/**
 * <p>How {@link DifferentialIT} compares the answers of plain Jetty and jetty-itk to one request: each is
 * {@link #observe observed}, {@link #normalise normalised} (what must differ between two servers is made equal),
 * then the two are compared, and every {@link #differences difference} is worded as one line.</p>
 */
final class ResponseComparison
{
    /**
     * <p>What must differ between two servers and is made equal before the comparison, each with its reason.</p>
     */
    private static final List<Normalisation> MUST_DIFFER = List.of(
        // The time of the response, also in interim responses.
        new Normalisation("Date", Pattern.compile(".+"), "(a date)", Body.UNCHANGED),
        // The time each server unpacked the WAR, which the default servlet gives static files.
        new Normalisation("Last-Modified", Pattern.compile(".+"), "(the time the WAR was unpacked)", Body.UNCHANGED),
        // A random session id per server (the app shows none in its bodies).
        new Normalisation("Set-Cookie", Pattern.compile("(?<=JSESSIONID=)[^;\\s]+"), "(a session id)", Body.UNCHANGED),
        // Jetty draws a random boundary for each multipart/byteranges response: in the header and the body.
        new Normalisation("Content-Type", Pattern.compile("(?<=multipart/byteranges; boundary=)[^;]+"), "(a boundary)", Body.MATCHED_TEXT));

    /**
     * A value that must differ: in a header's value, what the pattern matches becomes the replacement, and so in
     * the body as {@link Body} says.
     */
    private record Normalisation(String header, Pattern value, String replacement, Body body)
    {
        String apply(String text)
        {
            return value.matcher(text).replaceAll(replacement);
        }
    }

    private enum Body
    {
        /** The body does not show the value. */
        UNCHANGED,
        /** The text the pattern matched in the header is replaced wherever it is in the body. */
        MATCHED_TEXT
    }

    /**
     * A response as compared: interim responses, status line, headers, body (decoded if gzip) and trailers.
     */
    record Observed(List<Head> interim, String status, List<Field> headers, byte[] body, List<Field> trailers)
    {
    }

    private ResponseComparison()
    {
    }

    /**
     * @return the response of a {@link WireExchange}, as compared
     */
    static Observed observe(Response response)
    {
        return new Observed(response.interim(), response.head().statusLine(), response.head().fields(), response.body(), response.trailers());
    }

    /**
     * @return the response of Jetty's client, as compared
     */
    static Observed observe(ContentResponse response)
    {
        List<Field> headers = new ArrayList<>();
        for (HttpField field : response.getHeaders())
        {
            headers.add(new Field(field.getName(), field.getValue()));
        }
        return new Observed(List.of(), response.getVersion() + " " + response.getStatus(), headers, response.getContent(), List.of());
    }

    /**
     * @return the response with what {@link #MUST_DIFFER} names made equal, and its body decoded if gzip
     */
    static Observed normalise(Observed observed) throws IOException
    {
        StringBuilder text = new StringBuilder(new String(observed.body(), StandardCharsets.ISO_8859_1));
        List<Field> headers = normalise(observed.headers(), text);
        List<Head> interim = new ArrayList<>();
        for (Head head : observed.interim())
        {
            interim.add(new Head(head.statusLine(), normalise(head.fields(), new StringBuilder())));
        }
        byte[] bytes = text.toString().getBytes(StandardCharsets.ISO_8859_1);
        // A deflate stream's bytes depend on where its writer flushed, which a relay may change: gzip bodies are
        // compared decoded (the Content-Encoding and Content-Length headers are still compared as sent).
        boolean gzip = headers.stream().anyMatch(f -> f.name().equalsIgnoreCase("Content-Encoding") && f.value().contains("gzip"));
        if (gzip && bytes.length > 0)
        {
            try (InputStream in = new GZIPInputStream(new ByteArrayInputStream(bytes)))
            {
                bytes = in.readAllBytes();
            }
        }
        return new Observed(interim, observed.status(), headers, bytes, observed.trailers());
    }

    /**
     * @param body the body as ISO-8859-1 text, where {@link Body#MATCHED_TEXT} values are replaced
     */
    private static List<Field> normalise(List<Field> fields, StringBuilder body)
    {
        List<Field> normalised = new ArrayList<>();
        for (Field field : fields)
        {
            String value = field.value();
            for (Normalisation normalisation : MUST_DIFFER)
            {
                if (!normalisation.header().equalsIgnoreCase(field.name()))
                    continue;
                Matcher matcher = normalisation.value().matcher(value);
                if (!matcher.find())
                    continue;
                if (normalisation.body() == Body.MATCHED_TEXT)
                {
                    String replaced = body.toString().replace(matcher.group(), normalisation.replacement());
                    body.setLength(0);
                    body.append(replaced);
                }
                value = normalisation.apply(value);
            }
            normalised.add(new Field(field.name(), value));
        }
        return normalised;
    }

    /**
     * @return every difference between the two responses, in words
     */
    static List<String> differences(Observed plain, Observed itk)
    {
        List<String> differences = new ArrayList<>();
        if (!plain.status().equals(itk.status()))
            differences.add("status line: plain '" + plain.status() + "', itk '" + itk.status() + "'");
        if (!plain.interim().equals(itk.interim()))
            differences.add("interim responses: plain " + plain.interim() + ", itk " + itk.interim());
        compareFields("header", plain.headers(), itk.headers(), differences);
        compareFields("trailer", plain.trailers(), itk.trailers(), differences);
        List<String> plainOrder = appHeaderOrder(plain.headers());
        List<String> itkOrder = appHeaderOrder(itk.headers());
        if (!plainOrder.equals(itkOrder))
            differences.add("order of the headers the app set: plain " + plainOrder + ", itk " + itkOrder);
        compareBodies(plain.body(), itk.body(), differences);
        return differences;
    }

    private static void compareFields(String kind, List<Field> plain, List<Field> itk, List<String> differences)
    {
        Map<String, List<Field>> plainByName = byName(plain);
        Map<String, List<Field>> itkByName = byName(itk);
        Map<String, Boolean> names = new LinkedHashMap<>();
        plainByName.keySet().forEach(name -> names.put(name, true));
        itkByName.keySet().forEach(name -> names.put(name, true));
        for (String name : names.keySet())
        {
            List<Field> p = plainByName.getOrDefault(name, List.of());
            List<Field> i = itkByName.getOrDefault(name, List.of());
            List<String> pValues = p.stream().map(Field::value).toList();
            List<String> iValues = i.stream().map(Field::value).toList();
            List<String> pNames = p.stream().map(Field::name).distinct().toList();
            List<String> iNames = i.stream().map(Field::name).distinct().toList();
            String shown = (p.isEmpty() ? i : p).get(0).name();
            if (p.isEmpty())
                differences.add(kind + " only in itk: " + i);
            else if (i.isEmpty())
                differences.add(kind + " only in plain: " + p);
            else if (!pValues.equals(iValues))
                differences.add(kind + " " + shown + ": plain " + p + ", itk " + i);
            else if (!pNames.equals(iNames))
                differences.add(kind + " name case: plain " + pNames + ", itk " + iNames);
        }
    }

    /**
     * @return the fields by lower-case name, each name's fields in order
     */
    private static Map<String, List<Field>> byName(List<Field> fields)
    {
        return fields.stream().collect(Collectors.groupingBy(f -> f.name().toLowerCase(Locale.ENGLISH), LinkedHashMap::new, Collectors.toList()));
    }

    /**
     * @return the names of the headers the app set itself ({@code X-App-*}), in their order
     */
    private static List<String> appHeaderOrder(List<Field> fields)
    {
        return fields.stream()
            .map(f -> f.name().toLowerCase(Locale.ENGLISH))
            .filter(name -> name.startsWith("x-app-"))
            .toList();
    }

    private static void compareBodies(byte[] plain, byte[] itk, List<String> differences)
    {
        if (Arrays.equals(plain, itk))
            return;
        List<String> plainLines = lines(plain);
        List<String> itkLines = lines(itk);
        List<String> onlyPlain = new ArrayList<>(plainLines);
        itkLines.forEach(onlyPlain::remove);
        List<String> onlyItk = new ArrayList<>(itkLines);
        plainLines.forEach(onlyItk::remove);
        onlyPlain.forEach(line -> differences.add("body line only in plain: " + abbreviate(line)));
        onlyItk.forEach(line -> differences.add("body line only in itk: " + abbreviate(line)));
        if (onlyPlain.isEmpty() && onlyItk.isEmpty())
            differences.add("body: same lines, other order or line ends (plain " + plain.length + " bytes, itk " + itk.length + " bytes)");
    }

    private static List<String> lines(byte[] body)
    {
        return List.of(new String(body, StandardCharsets.UTF_8).split("\r?\n"));
    }

    private static String abbreviate(String line)
    {
        return line.length() <= 300 ? line : line.substring(0, 300) + "...(" + line.length() + " chars)";
    }
}
