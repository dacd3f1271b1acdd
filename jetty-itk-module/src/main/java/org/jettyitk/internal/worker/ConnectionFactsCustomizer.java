package org.jettyitk.internal.worker;

import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import org.eclipse.jetty.http.HttpException;
import org.eclipse.jetty.http.HttpField;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpStatus;
import org.eclipse.jetty.http.MetaData;
import org.eclipse.jetty.server.ConnectionMetaData;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpStream;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.util.Callback;
import org.jettyitk.internal.pipe.ConnectionFacts;
import org.jettyitk.internal.pipe.FieldNames;

/**
 * <p>Worker side of the connection facts: makes each request report the client's address, the front's local
 * address and the connection's security exactly as the front saw them, and hides the private header from the
 * application; gives the request the {@code Host} header and the field names as the client sent them, and each
 * response the spelling of its field names ({@link FieldNames}).</p>
 * <p>Every request on a pipe comes from the front, which always sets exactly one header; a request without it,
 * or with more than one (a client's copy that got through), is a front bug or a forged stream and is refused
 * with 400. Only the request's header fields count: trailers come from the client, after the request was
 * customized, and are never read here, whatever they carry ({@code Itk-Connection}, {@code Forwarded}).</p>
 */
public class ConnectionFactsCustomizer implements HttpConfiguration.Customizer
{
    /**
     * Most facts headers kept parsed. The front sends the same one for every request of a client connection, so
     * this many client connections' requests are not parsed again; past it, the cache starts over.
     */
    public static final int MAX_PARSED_FACTS = 1024;
    private final Map<String, ConnectionFacts> parsed = new ConcurrentHashMap<>();

    @Override
    public Request customize(Request request, HttpFields.Mutable responseHeaders)
    {
        ConnectionFacts facts;
        try
        {
            String value = null;
            int copies = 0;
            for (HttpField field : request.getHeaders())
            {
                if (ConnectionFacts.LOWER_CASE_HEADER.equals(field.getLowerCaseName()))
                {
                    value = field.getValue();
                    copies++;
                }
            }
            if (copies > 1)
                throw new IllegalArgumentException(ConnectionFacts.HEADER + " " + copies + " copies, the front sends one");
            facts = parse(value);
        }
        catch (IllegalArgumentException x)
        {
            throw new HttpException.RuntimeException(HttpStatus.BAD_REQUEST_400, x.getMessage(), x);
        }
        HttpFields headers = FieldNames.restoreRequest(request.getHeaders(), facts.protocol().startsWith("HTTP/1"));
        ConnectionMetaData metaData = new FactsConnectionMetaData(request.getConnectionMetaData(), facts);
        request.addHttpStreamWrapper(NamesHttpStream::new);
        return new Request.Wrapper(request)
        {
            @Override
            public HttpFields getHeaders()
            {
                return headers;
            }

            @Override
            public ConnectionMetaData getConnectionMetaData()
            {
                return metaData;
            }

            @Override
            public boolean isSecure()
            {
                return facts.secure();
            }
        };
    }

    private ConnectionFacts parse(String value)
    {
        ConnectionFacts facts = value == null ? null : parsed.get(value);
        if (facts != null)
            return facts;
        // Only a value that parses is kept.
        facts = ConnectionFacts.parse(value);
        if (parsed.size() >= MAX_PARSED_FACTS)
            parsed.clear();
        parsed.put(value, facts);
        return facts;
    }

    /**
     * Sends with each response head the spelling of its field names, which HPACK sends lower-case, so that the front
     * gives an HTTP/1 client the names as the tenant set them. A final response crosses the pipe without its
     * {@code Server} and {@code Date}: the tenant's response has them, as on a plain Jetty, and the front gives the
     * client its own in their place.
     */
    private static class NamesHttpStream extends HttpStream.Wrapper
    {
        private NamesHttpStream(HttpStream wrapped)
        {
            super(wrapped);
        }

        @Override
        public void send(MetaData.Request request, MetaData.Response response, boolean last, ByteBuffer content, Callback callback)
        {
            super.send(request, response == null ? null : withNames(response), last, content, callback);
        }

        private static MetaData.Response withNames(MetaData.Response response)
        {
            HttpFields original = response.getHttpFields();
            boolean interim = HttpStatus.isInformational(response.getStatus());
            HttpFields.Mutable fields = HttpFields.build(original.size() + 1);
            for (HttpField field : original)
            {
                if (interim || (field.getHeader() != HttpHeader.SERVER && field.getHeader() != HttpHeader.DATE))
                    fields.add(field);
            }
            FieldNames.addNames(fields, fields);
            if (fields.size() == original.size() && interim)
                return response;
            return new MetaData.Response(response.getStatus(), response.getReason(), response.getHttpVersion(), fields, response.getContentLength(), response.getTrailersSupplier());
        }
    }

    private static class FactsConnectionMetaData extends ConnectionMetaData.Wrapper
    {
        private final ConnectionFacts facts;

        private FactsConnectionMetaData(ConnectionMetaData wrapped, ConnectionFacts facts)
        {
            super(wrapped);
            this.facts = facts;
        }

        @Override
        public boolean isSecure()
        {
            return facts.secure();
        }

        @Override
        public SocketAddress getRemoteSocketAddress()
        {
            return facts.remote();
        }

        @Override
        public SocketAddress getLocalSocketAddress()
        {
            return facts.local();
        }

        @Override
        public String getProtocol()
        {
            return facts.protocol();
        }
    }
}
