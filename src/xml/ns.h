/* ns.h -- namespace strings, each written once. */
#ifndef TN_XML_NS_H
#define TN_XML_NS_H

#define TN_NS_STREAM "http://etherx.jabber.org/streams"
#define TN_NS_CLIENT "jabber:client"
#define TN_NS_SERVER "jabber:server"
#define TN_NS_XML "http://www.w3.org/XML/1998/namespace"
#define TN_NS_STREAMS "urn:ietf:params:xml:ns:xmpp-streams"
#define TN_NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"
#define TN_NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define TN_NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define TN_NS_BIND "urn:ietf:params:xml:ns:xmpp-bind"
#define TN_NS_SESSION "urn:ietf:params:xml:ns:xmpp-session"
#define TN_NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define TN_NS_DISCO_ITEMS "http://jabber.org/protocol/disco#items"
#define TN_NS_PING "urn:xmpp:ping"
#define TN_NS_VERSION "jabber:iq:version"
#define TN_NS_SASL_CB "urn:xmpp:sasl-cb:0"

#endif
