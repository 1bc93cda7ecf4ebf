// The demo company for `npm start`: object ids from demoUserObjectId(upn), so development tokens find themselves.
import { demoUserObjectId } from "@hearth/platform";
import type { Profile } from "./domain/employee.ts";

type Seat = [
  given: string,
  surname: string,
  upnLocal: string,
  department: string,
  jobTitle: string,
  managerUpnLocal: string | null,
  office: "Paris" | "London" | "Berlin" | "New York",
];

const OFFICES = {
  Paris: { country: "FR", timeZone: "Europe/Paris", language: "fr-FR" },
  London: { country: "GB", timeZone: "Europe/London", language: "en-GB" },
  Berlin: { country: "DE", timeZone: "Europe/Berlin", language: "de-DE" },
  "New York": { country: "US", timeZone: "America/New_York", language: "en-US" },
} as const;

const SEATS: Seat[] = [
  ["Claire", "Dubois", "ceo", "Management", "Chief Executive Officer", null, "Paris"],
  ["Helen", "Roberts", "hr", "People", "HR Business Partner", "ceo", "London"],
  ["Camille", "Martin", "cm", "People", "Community Manager", "hr", "Paris"],
  ["Adam", "Ng", "admin", "IT", "IT Administrator", "cto", "London"],
  ["Samuel", "Okafor", "cto", "Engineering", "Chief Technology Officer", "ceo", "Berlin"],
  ["Greta", "Schmidt", "greta.schmidt", "Engineering", "Engineering Manager", "cto", "Berlin"],
  ["Jonas", "Weber", "jonas.weber", "Engineering", "Senior Software Engineer", "greta.schmidt", "Berlin"],
  ["Lena", "Fischer", "lena.fischer", "Engineering", "Software Engineer", "greta.schmidt", "Berlin"],
  ["Mehmet", "Yilmaz", "mehmet.yilmaz", "Engineering", "Software Engineer", "greta.schmidt", "Berlin"],
  ["Sofia", "Rossi", "sofia.rossi", "Engineering", "QA Engineer", "greta.schmidt", "Berlin"],
  ["Daniel", "Kim", "daniel.kim", "Engineering", "Engineering Manager", "cto", "New York"],
  ["Olivia", "Brown", "olivia.brown", "Engineering", "Senior Software Engineer", "daniel.kim", "New York"],
  ["Ethan", "Garcia", "ethan.garcia", "Engineering", "Software Engineer", "daniel.kim", "New York"],
  ["Ava", "Johnson", "ava.johnson", "Engineering", "Site Reliability Engineer", "daniel.kim", "New York"],
  ["Noah", "Miller", "noah.miller", "Engineering", "Software Engineer", "daniel.kim", "New York"],
  ["Priya", "Patel", "priya.patel", "Product", "Head of Product", "ceo", "London"],
  ["Tom", "Walker", "tom.walker", "Product", "Product Manager", "priya.patel", "London"],
  ["Chloe", "Evans", "chloe.evans", "Product", "Product Designer", "priya.patel", "London"],
  ["Lucas", "Bernard", "lucas.bernard", "Product", "UX Researcher", "priya.patel", "Paris"],
  ["Marc", "Lefebvre", "marc.lefebvre", "Sales", "Head of Sales", "ceo", "Paris"],
  ["Julie", "Moreau", "julie.moreau", "Sales", "Account Executive", "marc.lefebvre", "Paris"],
  ["Hugo", "Laurent", "hugo.laurent", "Sales", "Account Executive", "marc.lefebvre", "Paris"],
  ["Emma", "Wilson", "emma.wilson", "Sales", "Account Executive", "marc.lefebvre", "London"],
  ["Jacob", "Davis", "jacob.davis", "Sales", "Sales Development Representative", "marc.lefebvre", "New York"],
  ["Mia", "Clarke", "mia.clarke", "Sales", "Sales Development Representative", "marc.lefebvre", "New York"],
  ["Anna", "Becker", "anna.becker", "Marketing", "Head of Marketing", "ceo", "Berlin"],
  ["Felix", "Wagner", "felix.wagner", "Marketing", "Content Marketer", "anna.becker", "Berlin"],
  ["Léa", "Petit", "lea.petit", "Marketing", "Brand Designer", "anna.becker", "Paris"],
  ["Oscar", "Hughes", "oscar.hughes", "Marketing", "Growth Marketer", "anna.becker", "London"],
  ["Nadia", "Haddad", "nadia.haddad", "Finance", "Chief Financial Officer", "ceo", "Paris"],
  ["Pierre", "Roux", "pierre.roux", "Finance", "Accountant", "nadia.haddad", "Paris"],
  ["Grace", "Taylor", "grace.taylor", "Finance", "Financial Analyst", "nadia.haddad", "London"],
  ["Isabel", "Lopez", "isabel.lopez", "Customer Success", "Head of Customer Success", "ceo", "New York"],
  ["Liam", "Anderson", "liam.anderson", "Customer Success", "Customer Success Manager", "isabel.lopez", "New York"],
  ["Zoe", "Thomas", "zoe.thomas", "Customer Success", "Support Engineer", "isabel.lopez", "New York"],
  ["Max", "Hoffmann", "max.hoffmann", "Customer Success", "Support Engineer", "isabel.lopez", "Berlin"],
  ["Inès", "Girard", "ines.girard", "People", "Recruiter", "hr", "Paris"],
  ["Ruby", "Scott", "ruby.scott", "People", "People Operations Specialist", "hr", "London"],
  ["Ben", "Carter", "ben.carter", "IT", "IT Support Specialist", "admin", "London"],
  ["Yuki", "Tanaka", "new.hire", "Engineering", "Software Engineer", "greta.schmidt", "Berlin"],
];

const DOMAIN = "contoso.example";

function addDays(now: Date, days: number): string {
  return new Date(now.getTime() + days * 86_400_000).toISOString().slice(0, 10);
}

/** ~40 people across seven departments under one CEO, including hr@, cm@, admin@ and a hire starting next week. */
export function demoDirectory(now: Date): Array<{ objectId: string; profile: Partial<Profile> }> {
  return SEATS.map(([given, surname, local, department, jobTitle, manager, office], i) => {
    const upn = `${local}@${DOMAIN}`;
    const place = OFFICES[office];
    // Tenure spread over the last six years; the new hire starts in seven days.
    const hireDate = local === "new.hire" ? addDays(now, 7) : addDays(now, -(60 + ((i * 97) % 2100)));
    return {
      objectId: demoUserObjectId(upn),
      profile: {
        displayName: `${given} ${surname}`,
        givenName: given,
        surname,
        mail: upn,
        upn,
        department,
        jobTitle,
        office,
        country: place.country,
        timeZone: place.timeZone,
        preferredLanguage: place.language,
        managerId: manager ? demoUserObjectId(`${manager}@${DOMAIN}`) : null,
        hireDate,
        leaveDate: null,
        enabled: true,
      },
    };
  });
}
